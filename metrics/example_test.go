package metrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/metrics"
	"github.com/jwtgate/jwtgate/middleware"
)

func Example() {
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}}) // a test identity provider on loopback
	defer idp.Close()

	reg := prometheus.NewRegistry()
	m, _ := metrics.New(metrics.Config{Registerer: reg})
	keys, _ := cache.New(context.Background(), cache.Config{
		Issuer: idp.Issuer(), WaitForFirstLoad: true, Logger: slog.New(slog.DiscardHandler),
		Observer: m.CacheObserver(cache.Observer{}),
	})
	defer keys.Close()
	v, _ := middleware.New(middleware.Config{
		Keys: keys, Issuers: []string{idp.Issuer()},
		OnVerify: m.OnVerify,
	})
	h := v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	tok, _ := idp.Sign(jwtgatetest.Claims{Subject: "alice"}, jwtgatetest.MintOptions{})
	for _, token := range []string{tok, tok, ""} {
		req := httptest.NewRequest("GET", "/", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	n, _ := testutil.GatherAndCount(reg, "jwtgate_requests_total")
	fmt.Println("request series:", n)
	fmt.Println("verification series (ok, error):", testutil.CollectAndCount(reg, "jwtgate_verification_duration_seconds"))
	// Output:
	// request series: 2
	// verification series (ok, error): 2
}
