package exchange_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/jwtgate/jwtgate/exchange"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// heldEndpoint answers token requests in memory once release is closed.
type heldEndpoint struct {
	calls   atomic.Int32
	release chan struct{}
}

func (h *heldEndpoint) RoundTrip(req *http.Request) (*http.Response, error) {
	h.calls.Add(1)
	select {
	case <-h.release:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	body := `{"access_token":"upstream-token","token_type":"Bearer","expires_in":300}`
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

// verifiedContext is a context with the verified claims of a fresh token.
func verifiedContext(t testing.TB, sub string) context.Context {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{URL: "https://idp.example", Algorithms: []string{"ES256"}})
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), idp.Mint(t, jwtgatetest.Claims{Subject: sub}))
	if err != nil {
		t.Fatal(err)
	}
	return middleware.ContextWithClaims(context.Background(), c)
}

func TestConcurrentExchangesAreCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := verifiedContext(t, "alice")
		ep := &heldEndpoint{release: make(chan struct{})}
		var ev exchange.Event
		tr, err := exchange.New(exchange.Config{TokenEndpoint: "https://as.example/token", Audience: "orders",
			HTTPClient: &http.Client{Transport: ep}, OnExchange: func(e exchange.Event) { ev = e }})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		const n = 10
		errs := make(chan error, n)
		for range n {
			go func() {
				tok, err := tr.Token(ctx)
				if err == nil && tok != "upstream-token" {
					err = errors.New("wrong token " + tok)
				}
				errs <- err
			}()
		}
		synctest.Wait() // every caller waits on the one call
		if c := ep.calls.Load(); c != 1 {
			t.Fatalf("%d calls to the token endpoint, want 1", c)
		}
		close(ep.release)
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if ev.Coalesced != n-1 {
			t.Fatalf("event %+v, want %d coalesced", ev, n-1)
		}
	})
}

func TestWaiterLeavesOnItsContextAndCloseStopsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := verifiedContext(t, "alice")
		ep := &heldEndpoint{release: make(chan struct{})}
		tr, err := exchange.New(exchange.Config{TokenEndpoint: "https://as.example/token", Audience: "orders",
			HTTPClient: &http.Client{Transport: ep}})
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { _, err := tr.Token(wctx); done <- err }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, exchange.ErrExchange) {
			t.Fatalf("err %v, want the waiter's cancellation", err)
		}
		// The call runs on for others until Close stops it and waits.
		tr.Close()
		if _, err := tr.Token(ctx); !errors.Is(err, exchange.ErrClosed) || exchange.Status(err) != http.StatusServiceUnavailable {
			t.Fatalf("after Close: err %v, want ErrClosed (503)", err)
		}
	})
}

func TestCacheIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ep := &heldEndpoint{release: make(chan struct{})}
		close(ep.release)
		tr, err := exchange.New(exchange.Config{TokenEndpoint: "https://as.example/token", Audience: "orders",
			HTTPClient: &http.Client{Transport: ep}, MaxEntries: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		a, b, c := verifiedContext(t, "a"), verifiedContext(t, "b"), verifiedContext(t, "c")
		for _, ctx := range []context.Context{a, b, c, a} {
			if _, err := tr.Token(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// a was evicted by c (least recently used), so its second use
		// exchanged again.
		if n := ep.calls.Load(); n != 4 {
			t.Fatalf("%d calls, want 4", n)
		}
		if _, err := tr.Token(c); err != nil || ep.calls.Load() != 4 {
			t.Fatalf("c: err %v, calls %d; want a cache hit", err, ep.calls.Load())
		}
	})
}

// A waiter that leaves on its own context leaves alone: the flight goes
// on, and the others that joined it get its token.
func TestCancelledWaiterDoesNotCancelOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := verifiedContext(t, "alice")
		ep := &heldEndpoint{release: make(chan struct{})}
		var events atomic.Int32
		tr, err := exchange.New(exchange.Config{TokenEndpoint: "https://as.example/token", Audience: "orders",
			HTTPClient: &http.Client{Transport: ep}, OnExchange: func(exchange.Event) { events.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		first, cancelFirst := context.WithCancel(ctx)
		left := make(chan error, 1)
		go func() { _, err := tr.Token(first); left <- err }()
		synctest.Wait() // the first request started the flight
		stayed := make(chan string, 2)
		for range 2 {
			go func() {
				tok, err := tr.Token(ctx)
				if err != nil {
					tok = err.Error()
				}
				stayed <- tok
			}()
		}
		synctest.Wait()
		cancelFirst()
		if err := <-left; !errors.Is(err, context.Canceled) {
			t.Fatalf("the request that left: %v", err)
		}
		close(ep.release)
		for range 2 {
			if tok := <-stayed; tok != "upstream-token" {
				t.Fatalf("a request that stayed got %q", tok)
			}
		}
		if c, e := ep.calls.Load(), events.Load(); c != 1 || e != 1 {
			t.Fatalf("%d calls, %d events; want one of each", c, e)
		}
	})
}
