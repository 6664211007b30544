package main

import (
	"context"
	"math"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/fixture"
	"github.com/jwtgate/jwtgate/benchmarks/internal/results"
	"github.com/jwtgate/jwtgate/cache"
)

// Every library's goroutines must be gone once its case is closed.
// The gateway scenario re-executes the test binary as its proxies.
func TestMain(m *testing.M) {
	if childMain() {
		return
	}
	goleak.VerifyTestMain(m)
}

func testFixture(t *testing.T) *fixture.Fixture {
	t.Helper()
	fx, err := fixture.New(fixture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fx.Close)
	return fx
}

// TestFlood checks the flood's bookkeeping on a small flood: nothing is
// accepted, every request is counted, and the fetch counter sees the one
// refresh that keyfunc (rate-limited) makes, jwtgate's unknown-kid
// refetches (at most one per cache.DefaultUnknownKIDInterval, plus one),
// and none from the libraries that never refresh on an unknown kid.
func TestFlood(t *testing.T) {
	fx := testFixture(t)
	res, err := runFlood(context.Background(), fx, settings{floodN: 300, scenarioCap: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{"keyfunc": {1, 1}, "auth0": {0, 0}, "jwx": {0, 0}, "jwtgate_cold": {0, 0}}
	if len(res) != len(want) {
		t.Fatalf("got %d libraries, want %d", len(res), len(want))
	}
	for _, r := range res {
		if r.Accepted != 0 || r.Requests != 300 || r.Truncated {
			t.Errorf("%s: %+v", r.Case, r)
		}
		w := want[r.Case]
		if r.Case == "jwtgate_cold" {
			w[1] = 1 + int64(time.Duration(r.Seconds*float64(time.Second))/cache.DefaultUnknownKIDInterval)
		}
		if r.Fetches < w[0] || r.Fetches > w[1] {
			t.Errorf("%s: %d JWKS fetches, want %d..%d", r.Case, r.Fetches, w[0], w[1])
		}
		if r.P50us <= 0 || r.Maxus < r.P99us || r.P99us < r.P50us {
			t.Errorf("%s: latencies out of order: %+v", r.Case, r)
		}
	}
}

// TestLoadOneCase runs the TCP load generator briefly against one case.
func TestLoadOneCase(t *testing.T) {
	fx := testFixture(t)
	inst := mustBuild(t, fx, "jwtgate_cold")
	defer inst.Close()
	srv, err := serve(inst.Handler)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	good, err := drive(srv.url(), fx.Tokens[fixture.EdDSA], 2, 0, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := drive(srv.url(), fixture.BadSignature(fx.Tokens[fixture.EdDSA]), 2, 0, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(good) == 0 || len(bad) == 0 {
		t.Fatalf("no samples: %d good, %d bad", len(good), len(bad))
	}
	for _, s := range good {
		if !s.ok {
			t.Fatal("good token answered with an error")
		}
	}
	for _, s := range bad {
		if s.ok {
			t.Fatal("bad signature answered 200")
		}
	}
}

// TestMemorySmall checks that the memory scenario sees what it fills.
func TestMemorySmall(t *testing.T) {
	fx := testFixture(t)
	res, _, err := runMemory(context.Background(), fx, settings{memoryN: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("got %d results, want 4", len(res))
	}
	for _, r := range res {
		if r.HeldEntries <= 0 || r.HeldEntries > r.Entries || r.Bytes == 0 {
			t.Errorf("%+v", r)
		}
	}
}

func mustBuild(t *testing.T, fx *fixture.Fixture, name string) *cases.Instance {
	t.Helper()
	c, ok := cases.ByName(name)
	if !ok {
		t.Fatalf("no case %q", name)
	}
	inst, err := c.New(context.Background(), fx, fixture.EdDSA, cases.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestGateway runs the gateway scenario briefly: every proxy answers, and
// the gateway (like the tuned bare proxy) reuses its upstream connections
// where net/http's default transport does not.
func TestGateway(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	fx := testFixture(t)
	res, err := runGateway(context.Background(), fx, settings{gwRequests: 640, gwRounds: 1, gwConc: 32})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2*len(proxiesToMeasure()) {
		t.Fatalf("%d results, want %d", len(res), 2*len(proxiesToMeasure()))
	}
	for _, r := range res {
		if r.Errors != 0 || r.Requests != 640 || r.RPS <= 0 || r.PeakRSSMiB <= 0 || r.P50us <= 0 || r.P99us < r.P50us {
			t.Errorf("%+v", r)
		}
		// A loaded machine may close a few idle connections in a run
		// this short; the default transport opens one for most requests
		// (≈0.65), so 0.1 still tells reuse from no reuse.
		if (r.Proxy == "gateway" || r.Proxy == "gateway_limited" || r.Proxy == "bare_tuned") && r.UpstreamConnsPerReq > 0.1 {
			t.Errorf("%s/%s: %.3f new upstream connections per request", r.Proxy, r.Mix, r.UpstreamConnsPerReq)
		}
		// And the count can see no reuse: net/http's default transport
		// keeps 2 idle connections for 32 clients.
		if r.Proxy == "bare_default" && r.UpstreamConnsPerReq < 0.2 {
			t.Errorf("bare_default/%s: %.3f new upstream connections per request: the count sees nothing", r.Mix, r.UpstreamConnsPerReq)
		}
	}
}

// TestGatewayInstructions counts two proxies briefly under callgrind: each
// answers every counted request, the counts are positive and repeatable
// (a second round within 3 % over 40 requests; the full scenario counts
// 500), and the gateway, which verifies a token and the bare proxy does
// not, counts more per request than the bare proxy.
func TestGatewayInstructions(t *testing.T) {
	fx := testFixture(t)
	res, err := runGatewayInstructions(fx, counting{proxies: []string{"bare_tuned", "gateway"}, requests: 40, rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string][]float64{}
	for _, r := range res {
		if r.PerRequest <= 0 || r.Requests != 40 {
			t.Errorf("%+v", r)
		}
		per[r.Proxy] = append(per[r.Proxy], r.PerRequest)
	}
	for p, v := range per {
		if len(v) != 2 || math.Abs(v[0]-v[1]) > 0.03*v[0] {
			t.Errorf("%s: %v per request in two rounds, want two within 3 %%", p, v)
		}
	}
	if g, b := per["gateway"], per["bare_tuned"]; len(g) == 0 || len(b) == 0 || g[0] <= b[0] {
		t.Errorf("gateway %v, bare proxy %v instructions per request", g, b)
	}
	t.Logf("\n%s", results.GatewayInstructionsTable(res))
}
