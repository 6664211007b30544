package cache

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// RSA key generation is slow under -race; tests share a few keys.
var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

func ecKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwkJSON returns the public JWK of key as a JSON object.
func jwkJSON(t testing.TB, key crypto.Signer, kid string, alg jwkset.ALG) json.RawMessage {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwks builds a JWK Set document from JWK objects.
func jwks(keys ...json.RawMessage) []byte {
	if keys == nil {
		keys = []json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// provider is a fake identity provider: it serves a JWK Set (and optionally
// a discovery document) and counts requests. Tests change its behaviour
// between refreshes. It is safe for concurrent use.
type provider struct {
	mu          sync.Mutex
	body        []byte
	status      int               // 0 means 200
	header      map[string]string // extra response headers
	etag        string            // if set, served and honoured (304)
	hang        bool              // block until the request's context ends
	delay       time.Duration     // answer this late, with the body as it was on arrival
	discovery   []byte            // served at /.well-known/openid-configuration
	jwksCount   int
	condCount   int // conditional requests received
	discCount   int
	notModified int
}

func newProvider(body []byte) *provider { return &provider{body: body} }

func (p *provider) set(f func(p *provider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *provider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksCount
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if r.URL.Path == discoveryPath {
		p.discCount++
		doc := p.discovery
		p.mu.Unlock()
		if doc == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
		return
	}
	p.jwksCount++
	if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
		p.condCount++
	}
	body, status, etag, hang, delay := p.body, p.status, p.etag, p.hang, p.delay
	hdr := make(map[string]string, len(p.header))
	for k, v := range p.header {
		hdr[k] = v
	}
	if etag != "" && r.Header.Get("If-None-Match") == etag && status == 0 {
		p.notModified++
		p.mu.Unlock()
		w.Header().Set("ETag", etag)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		w.WriteHeader(status)
	}
	w.Write(body)
}

// memTransport serves requests from a handler in memory, so tests can run
// inside a synctest bubble, where time is virtual.
type memTransport struct{ h http.Handler }

func (m memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	res := rec.Result()
	res.Request = req
	res.Header.Set("Content-Length", strconv.Itoa(rec.Body.Len()))
	res.ContentLength = int64(rec.Body.Len())
	return res, nil
}

func memClient(h http.Handler) *http.Client { return &http.Client{Transport: memTransport{h}} }

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

// serve starts an httptest server for p, closed at cleanup.
func serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
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

func toRaw(bs [][]byte) []json.RawMessage {
	out := make([]json.RawMessage, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}
