package exchange_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/exchange"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// upstream records what reached it.
type upstream struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []*http.Request // headers and URLs, bodies not kept
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.got = append(u.got, r.Clone(context.Background()))
		u.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("upstream ok"))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.got...)
}

// rig is an identity provider, a Verifier, a token endpoint and an
// upstream, with a proxy in front whose transport is the exchange.
type rig struct {
	idp   *jwtgatetest.Issuer
	te    *jwtgatetest.TokenEndpoint
	up    *upstream
	tr    *exchange.Transport
	proxy *httptest.Server
	clock *jwtgatetest.Clock
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newRig builds a rig; edit adjusts the exchange config.
func newRig(t *testing.T, teOpts jwtgatetest.TokenEndpointOptions, edit func(*exchange.Config)) *rig {
	t.Helper()
	r := &rig{clock: jwtgatetest.NewClock(time.Now().Truncate(time.Second)), logs: &syncBuffer{}}
	r.idp = jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, Now: r.clock.Now})
	if teOpts.Now == nil {
		teOpts.Now = r.clock.Now
	}
	r.te = jwtgatetest.NewTokenEndpoint(t, teOpts)
	r.up = newUpstream(t)
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := middleware.New(middleware.Config{Keys: r.idp.Keys(t), Issuers: []string{r.idp.Issuer()}, Audiences: []string{"api"},
		Now: r.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	upT := &http.Transport{}
	teT := &http.Transport{}
	t.Cleanup(upT.CloseIdleConnections)
	t.Cleanup(teT.CloseIdleConnections)
	cfg := exchange.Config{
		TokenEndpoint: r.te.URL(),
		Audience:      "orders",
		Scopes:        []string{"orders:read"},
		Next:          upT,
		HTTPClient:    &http.Client{Transport: teT},
		Now:           r.clock.Now,
		Logger:        log,
	}
	if edit != nil {
		edit(&cfg)
	}
	r.tr, err = exchange.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.tr.Close() })
	target, _ := url.Parse(r.up.srv.URL)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The client's Authorization stays: the exchange must
			// replace it by itself.
			pr.SetURL(target)
		},
		Transport:    r.tr,
		ErrorHandler: r.tr.WriteError,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	r.proxy = httptest.NewServer(v.Handler(rp))
	t.Cleanup(r.proxy.Close)
	return r
}

// get sends a GET with token through the proxy.
func (r *rig) get(t *testing.T, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.proxy.URL+"/orders", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}
