package exchange_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/exchange"
)

// okTransport answers every upstream request in memory.
type okTransport struct{}

func (okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

// BenchmarkRoundTripCached is the steady state: the exchanged token is in
// the cache, so a request costs the hash, the look-up and the request
// copy.
func BenchmarkRoundTripCached(b *testing.B) {
	ep := &heldEndpoint{release: make(chan struct{})}
	close(ep.release)
	tr, err := exchange.New(exchange.Config{TokenEndpoint: "https://as.example/token", Audience: "orders",
		HTTPClient: &http.Client{Transport: ep}, Next: okTransport{}})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	ctx := verifiedContext(b, "alice")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream.example/orders", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := ep.calls.Load(); n != 1 {
		b.Fatalf("%d exchanges, want 1", n)
	}
}
