package forwarded_test

import (
	"errors"
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

// A decision service reads the original request a trusted proxy describes;
// a description it cannot use is an error, never the sub-request itself.
func ExampleResolver_Original() {
	fw, err := forwarded.New(forwarded.Config{}) // loopback proxies
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "http://jwtgate:8080/_jwtgate", nil)
	r.RemoteAddr = "127.0.0.1:41000" // nginx auth_request
	r.Header.Set("X-Original-URI", "/admin/café?x=1")
	r.Header.Set("X-Original-Method", "POST")

	own := fw.View(r)
	fmt.Println(own.Method, own.URI)
	orig, err := fw.Original(r)
	fmt.Println(orig.Method, orig.URI, err)

	r.Header.Add("X-Original-URI", "/public") // twice: ambiguous
	_, err = fw.Original(r)
	fmt.Println(errors.Is(err, forwarded.ErrOriginal))
	// Output:
	// GET /_jwtgate
	// POST /admin/caf%C3%A9?x=1 <nil>
	// true
}
