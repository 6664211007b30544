package forwarded_test

import (
	"fmt"
	"net/http/httptest"
	"net/netip"

	"github.com/jwtgate/jwtgate/forwarded"
)

func Example() {
	fw, err := forwarded.New(forwarded.Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "http://backend:8080/v1/things?page=2", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "api.example.com")

	r.RemoteAddr = "10.0.0.7:41000" // the load balancer
	fmt.Println(fw.View(r).URL())

	r.RemoteAddr = "203.0.113.9:41000" // anyone else: its headers do not count
	fmt.Println(fw.View(r).URL())
	// Output:
	// https://api.example.com/v1/things
	// http://backend:8080/v1/things
}
