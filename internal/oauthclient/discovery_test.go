package oauthclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

func TestWellKnownURLs(t *testing.T) {
	for issuer, want := range map[string][]string{
		"https://as.example":  {"https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"},
		"https://as.example/": {"https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"},
		"https://as.example/realms/a": {"https://as.example/.well-known/oauth-authorization-server/realms/a",
			"https://as.example/realms/a/.well-known/openid-configuration", "https://as.example/realms/a/.well-known/oauth-authorization-server"},
	} {
		if got := oauthclient.WellKnownURLs(issuer); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", issuer, got, want)
		}
	}
}

// metadataServer serves metadata documents at the paths of docs, each
// naming the server's URL (plus the path's issuer suffix) as issuer
// unless issuer says otherwise, and counts the requests per path.
type metadataServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newMetadataServer(t *testing.T, serve func(base, path string) (map[string]any, bool)) *metadataServer {
	m := &metadataServer{hits: map[string]int{}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.hits[r.URL.Path]++
		m.mu.Unlock()
		doc, ok := serve(m.srv.URL, r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *metadataServer) total() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.hits {
		n += c
	}
	return n
}

func discoverer(t *testing.T, issuer, member string) *oauthclient.Discoverer {
	t.Helper()
	d, err := oauthclient.NewDiscoverer(oauthclient.DiscoveryConfig{Issuer: issuer, Member: member})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDiscoveryBothWellKnowns(t *testing.T) {
	for _, tc := range []struct {
		name, issuerPath, servedAt string
		member                     string
	}{
		{"RFC 8414", "", "/.well-known/oauth-authorization-server", oauthclient.IntrospectionEndpoint},
		{"OpenID Connect", "", "/.well-known/openid-configuration", oauthclient.TokenEndpoint},
		{"RFC 8414, issuer with a path", "/tenant", "/.well-known/oauth-authorization-server/tenant", oauthclient.TokenEndpoint},
		{"OpenID Connect, issuer with a path", "/tenant", "/tenant/.well-known/openid-configuration", oauthclient.IntrospectionEndpoint},
		{"RFC 8414 appended, issuer with a path", "/tenant", "/tenant/.well-known/oauth-authorization-server", oauthclient.TokenEndpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMetadataServer(t, func(base, path string) (map[string]any, bool) {
				return map[string]any{"issuer": base + tc.issuerPath, tc.member: base + "/ep", "other": []int{1}}, path == tc.servedAt
			})
			d := discoverer(t, m.srv.URL+tc.issuerPath, tc.member)
			for range 2 {
				ep, err := d.Endpoint(context.Background())
				if err != nil || ep != m.srv.URL+"/ep" {
					t.Fatalf("%q %v", ep, err)
				}
			}
			if ep, ok := d.Found(); !ok || ep != m.srv.URL+"/ep" {
				t.Errorf("Found %q %v", ep, ok)
			}
			if m.hits[tc.servedAt] != 1 {
				t.Errorf("hits %v: want the document fetched once and kept", m.hits)
			}
		})
	}
}

func TestDiscoveryIssuerMismatchIsRefused(t *testing.T) {
	m := newMetadataServer(t, func(base, path string) (map[string]any, bool) {
		return map[string]any{"issuer": "https://evil.example", "token_endpoint": base + "/token"}, true
	})
	_, err := discoverer(t, m.srv.URL, oauthclient.TokenEndpoint).Endpoint(context.Background())
	var mm *oauthclient.IssuerMismatchError
	if !errors.As(err, &mm) || !errors.Is(err, oauthclient.ErrIssuerMismatch) || !errors.Is(err, oauthclient.ErrDiscovery) {
		t.Fatalf("err %v, want an *IssuerMismatchError", err)
	}
	if mm.Want != m.srv.URL || mm.Got != "https://evil.example" || mm.Document != m.srv.URL+oauthclient.WellKnownOAuth {
		t.Errorf("%+v", mm)
	}
	// A mismatch is an answer: the other document is not asked for one
	// that suits.
	if n := m.total(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestDiscoveryRefusesBadDocuments(t *testing.T) {
	for name, body := range map[string]func(base string) string{
		"http endpoint elsewhere": func(base string) string {
			return `{"issuer":"` + base + `","token_endpoint":"http://evil.example/token"}`
		},
		"endpoint with fragment": func(base string) string { return `{"issuer":"` + base + `","token_endpoint":"` + base + `/t#x"}` },
		"no endpoint":            func(base string) string { return `{"issuer":"` + base + `"}` },
		"endpoint not a string":  func(base string) string { return `{"issuer":"` + base + `","token_endpoint":7}` },
		"no issuer":              func(base string) string { return `{"token_endpoint":"` + base + `/t"}` },
		"not JSON":               func(string) string { return `<html>` },
		"two objects":            func(base string) string { return `{"issuer":"` + base + `"} {}` },
		"null":                   func(string) string { return `null` },
		"too large":              func(base string) string { return `{"issuer":"` + base + `","pad":"` + strings.Repeat("x", 2048) + `"}` },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, body("http://"+r.Host))
			}))
			defer srv.Close()
			d, err := oauthclient.NewDiscoverer(oauthclient.DiscoveryConfig{Issuer: srv.URL, Member: oauthclient.TokenEndpoint, MaxBytes: 1024})
			if err != nil {
				t.Fatal(err)
			}
			if ep, err := d.Endpoint(context.Background()); !errors.Is(err, oauthclient.ErrDiscovery) {
				t.Fatalf("%q %v, want ErrDiscovery", ep, err)
			}
		})
	}
}

func TestNewDiscovererRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]oauthclient.DiscoveryConfig{
		"http issuer":       {Issuer: "http://as.example", Member: oauthclient.TokenEndpoint},
		"issuer with query": {Issuer: "https://as.example?a=b", Member: oauthclient.TokenEndpoint},
		"no member":         {Issuer: "https://as.example"},
		"negative retry":    {Issuer: "https://as.example", Member: oauthclient.TokenEndpoint, RetryAfter: -1},
	} {
		if _, err := oauthclient.NewDiscoverer(cfg); !errors.Is(err, oauthclient.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// heldMetadata answers the OpenID document in memory once release is
// closed, and counts requests.
type heldMetadata struct {
	calls   atomic.Int32
	release chan struct{}
	status  int
}

func (h *heldMetadata) RoundTrip(req *http.Request) (*http.Response, error) {
	h.calls.Add(1)
	select {
	case <-h.release:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	status, body := http.StatusNotFound, ""
	if strings.HasSuffix(req.URL.Path, oauthclient.WellKnownOpenID) {
		status, body = h.status, `{"issuer":"https://as.example","token_endpoint":"https://as.example/token"}`
	}
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

func TestDiscoveryIsSharedAndWaitersLeaveOnTheirContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &heldMetadata{release: make(chan struct{}), status: http.StatusOK}
		d, err := oauthclient.NewDiscoverer(oauthclient.DiscoveryConfig{Issuer: "https://as.example", Member: oauthclient.TokenEndpoint,
			Client: &http.Client{Transport: h}})
		if err != nil {
			t.Fatal(err)
		}
		const n = 5
		results := make(chan error, n)
		for range n {
			go func() {
				ep, err := d.Endpoint(context.Background())
				if err == nil && ep != "https://as.example/token" {
					err = errors.New("endpoint " + ep)
				}
				results <- err
			}()
		}
		synctest.Wait() // one of them fetches, the others wait for it
		leaver, leave := context.WithCancel(context.Background())
		left := make(chan error, 1)
		go func() { _, err := d.Endpoint(leaver); left <- err }()
		synctest.Wait()
		if c := h.calls.Load(); c != 1 {
			t.Fatalf("%d fetches under way, want 1", c)
		}
		leave()
		if err := <-left; !errors.Is(err, context.Canceled) || !errors.Is(err, oauthclient.ErrDiscovery) {
			t.Fatalf("the waiter that left: %v", err)
		}
		close(h.release)
		for range n {
			if err := <-results; err != nil {
				t.Fatal(err)
			}
		}
		if c := h.calls.Load(); c != 2 { // RFC 8414's (404), then OpenID's
			t.Errorf("%d requests, want 2", c)
		}
	})
}

func TestDiscoveryFailureKeptForRetryAfter(t *testing.T) {
	h := &heldMetadata{release: make(chan struct{}), status: http.StatusServiceUnavailable}
	close(h.release)
	now := time.Unix(1_800_000_000, 0)
	d, err := oauthclient.NewDiscoverer(oauthclient.DiscoveryConfig{Issuer: "https://as.example", Member: oauthclient.TokenEndpoint,
		Client: &http.Client{Transport: h}, RetryAfter: 5 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := d.Endpoint(context.Background()); !errors.Is(err, oauthclient.ErrDiscovery) {
			t.Fatal(err)
		}
	}
	if c := h.calls.Load(); c != 2 {
		t.Fatalf("%d requests, want 2 (both documents, once)", c)
	}
	now = now.Add(5 * time.Second)
	h.status = http.StatusOK
	if ep, err := d.Endpoint(context.Background()); err != nil || ep != "https://as.example/token" {
		t.Fatalf("after RetryAfter: %q %v", ep, err)
	}
}

func TestDiscoveryStopsAtATransportFailure(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	_, err := discoverer(t, url, oauthclient.TokenEndpoint).Endpoint(context.Background())
	if !errors.Is(err, oauthclient.ErrDiscovery) || errors.Is(err, oauthclient.ErrIssuerMismatch) {
		t.Fatalf("%v", err)
	}
}
