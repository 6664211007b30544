package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The identity provider of these tests is jwtgatetest's issuer. Inside a
// testing/synctest bubble it runs in memory (memIdP: no socket, created
// inside the bubble and reached through idp.Client(), so its Delay and
// Hang follow the bubble's clock); over real sockets it is an httptest
// server on loopback (liveIdP). Tests change its answers with setJWKS and
// its keys with Rotate and Remove between refreshes.

// memIdP returns an in-memory issuer at https://idp.test with one key per
// alg (ES256 when none is named).
func memIdP(t testing.TB, algs ...string) *jwtgatetest.Issuer {
	t.Helper()
	if len(algs) == 0 {
		algs = []string{"ES256"}
	}
	return jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{URL: "https://idp.test", Algorithms: algs})
}

// liveIdP returns an issuer served over loopback with one key per alg
// (ES256 when none is named).
func liveIdP(t testing.TB, algs ...string) *jwtgatetest.Issuer {
	t.Helper()
	if len(algs) == 0 {
		algs = []string{"ES256"}
	}
	return jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: algs})
}

// setJWKS sets how idp's JWK Set answers from the next request on.
func setJWKS(t testing.TB, idp *jwtgatetest.Issuer, b jwtgatetest.Behavior) {
	t.Helper()
	if err := idp.SetJWKS(b); err != nil {
		t.Fatal(err)
	}
}

// kidOf returns the kid of idp's signing key for alg ("": its first).
func kidOf(t testing.TB, idp *jwtgatetest.Issuer, alg string) string {
	t.Helper()
	kid, err := idp.KID(alg)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// rotate publishes a new key for idp's first algorithm (keeping the old
// one) and returns its kid.
func rotate(t testing.TB, idp *jwtgatetest.Issuer) string {
	t.Helper()
	alg := idp.Algorithms()[0]
	if err := idp.Rotate(alg); err != nil {
		t.Fatal(err)
	}
	return kidOf(t, idp, alg)
}

// remove withdraws kid from idp's set.
func remove(t testing.TB, idp *jwtgatetest.Issuer, kid string) {
	t.Helper()
	if err := idp.Remove(kid); err != nil {
		t.Fatal(err)
	}
}

// fetches counts the JWK Set requests idp has had.
func fetches(idp *jwtgatetest.Issuer) int { return idp.Stats().JWKS }

// publishedJWKs returns idp's published keys as JWK objects, newest first,
// for documents of a test's own (parse tests, Behavior.Body).
func publishedJWKs(t testing.TB, idp *jwtgatetest.Issuer) []json.RawMessage {
	t.Helper()
	keys, err := idp.Keys(t).KeyReadAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kids := idp.KIDs()
	out := make([]json.RawMessage, len(kids))
	for _, k := range keys {
		b, err := json.Marshal(k.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		out[slices.Index(kids, k.Marshal().KID)] = b
	}
	return out
}

// jwks builds a JWK Set document from JWK objects.
func jwks(keys ...json.RawMessage) []byte {
	if keys == nil {
		keys = []json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// discard is a logger for tests that do not look at log lines.
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer captures log lines for tests that assert on them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestCache starts a cache, fails the test on error, and closes it at cleanup.
func newTestCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mustRead reads kid and fails the test if it is missing.
func mustRead(t testing.TB, c *Cache, kid string) jwkset.JWK {
	t.Helper()
	k, err := c.KeyRead(context.Background(), kid)
	if err != nil {
		t.Fatalf("KeyRead(%q): %v", kid, err)
	}
	return k
}

func waitReady(t testing.TB, c *Cache) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// observeRefreshes makes cfg report every refresh on the returned channel.
func observeRefreshes(cfg *Config) <-chan RefreshEvent {
	ch := make(chan RefreshEvent, 1024)
	cfg.Observer.OnRefresh = func(ev RefreshEvent) {
		select {
		case ch <- ev:
		default:
		}
	}
	return ch
}

// nextRefresh waits (bounded) for the next refresh event.
func nextRefresh(t testing.TB, ch <-chan RefreshEvent) RefreshEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no refresh happened")
		return RefreshEvent{}
	}
}
