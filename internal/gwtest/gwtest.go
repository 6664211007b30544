// Package gwtest is the fixture shared by the tests of package gateway and
// of its program, cmd/jwtgate/cli: an identity provider that can be taken
// down, an upstream that echoes, holds or streams, a config file on disk, a
// GET with header names sent as given, and the reserved-header spoofing
// check. Only _test files import it (internal/depcheck's
// TestTestSupportOnlyInTests), and it imports neither gateway nor cli, so
// both packages' own (internal) tests can use it.
package gwtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jwtgate/jwtgate/internal/headername"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// Env is a LookupEnv over m.
func Env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// WriteConfig writes body to gateway.yaml in a directory of t's own and
// returns its path.
func WriteConfig(t testing.TB, body string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// Chain calls a (when not nil), then b: a test's hook added to one the
// code under test may have set already.
func Chain[E any](a, b func(E)) func(E) {
	if a == nil {
		return b
	}
	return func(e E) { a(e); b(e) }
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes (a logger's, a
// program's stderr) and reads (the test's). The zero value is ready.
type SyncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// StartIDP starts an identity provider on loopback (the test kit's,
// signing with ES256 as the demo's does), down (SetDown) if asked; t's
// cleanup closes it.
func StartIDP(t testing.TB, down bool) *jwtgatetest.Issuer {
	t.Helper()
	i := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if down {
		SetDown(t, i, true)
	}
	return i
}

// SetDown makes i's discovery and JWK Set answer 503, or normally again.
func SetDown(t testing.TB, i *jwtgatetest.Issuer, down bool) {
	t.Helper()
	var b jwtgatetest.Behavior
	if down {
		b.Status = http.StatusServiceUnavailable
	}
	if err := errors.Join(i.SetDiscovery(b), i.SetJWKS(b)); err != nil {
		t.Fatal(err)
	}
}

// Upstream is the service behind the gateway, on loopback. A path ending
// in /sse sends one event, then waits for Release before the next; one
// ending in /slow sends on Started (buffered: one), then waits for
// Release; every other path is echoed as JSON {"path", "headers"}
// (UpstreamHeaders decodes it). A request whose client leaves stops
// waiting.
type Upstream struct {
	*httptest.Server
	Release chan struct{} // a send releases one held request, a close all
	Started chan struct{}
}

// StartUpstream starts an Upstream; t's cleanup closes it.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{Release: make(chan struct{}), Started: make(chan struct{}, 1)}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/sse"):
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		if !u.hold(r) {
			return
		}
		io.WriteString(w, "data: second\n\n")
	case strings.HasSuffix(r.URL.Path, "/slow"):
		u.Started <- struct{}{}
		if !u.hold(r) {
			return
		}
		io.WriteString(w, "done")
	default:
		json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}
}

// hold waits for Release, or reports false when the client left first.
func (u *Upstream) hold(r *http.Request) bool {
	select {
	case <-u.Release:
		return true
	case <-r.Context().Done():
		return false
	}
}

// UpstreamHeaders decodes the headers of an Upstream's echo.
func UpstreamHeaders(t testing.TB, body string) http.Header {
	t.Helper()
	var got struct{ Headers http.Header }
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return got.Headers
}

// GetRaw sends a GET to url with the bearer token (none when "") and the
// header pairs in hdr, their names sent exactly as given (not
// canonicalized), and returns the status and body.
func GetRaw(t testing.TB, c *http.Client, url, token string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Spoofs are a client's attempts at the reserved headers, as GetRaw's
// pairs: every spelling an upstream could read as X-Jwtgate-*, and a
// Connection header naming the real one (ReverseProxy then deletes by that
// name, after the Verifier). Every value contains "spoof".
var Spoofs = []string{
	"X-Jwtgate-Subject", "spoof-canonical",
	"x-jwtgate-subject", "spoof-lower",
	"X-JWTGATE-SCOPE", "spoof-upper",
	"x_jwtgate_subject", "spoof-underscore",
	"X-Jwtgate_Scope", "spoof-mixed",
	"X-Jwtgate-Tenant", "spoof-unconfigured",
	"x_JWTGATE-role", "spoof-unconfigured-underscore",
	"Connection", "X-Jwtgate-Subject, x_jwtgate_scope",
}

// CheckNoSpoof fails t if the upstream saw (h) a Spoofs value, any header
// under the reserved prefix (gateway.ReservedHeaderPrefix, in any
// spelling) other than those in want, or one of those with another value.
func CheckNoSpoof(t testing.TB, h http.Header, prefix string, want map[string]string) {
	t.Helper()
	for name, vs := range h {
		if strings.Contains(strings.Join(vs, ","), "spoof") {
			t.Errorf("spoofed header reached the upstream: %s: %q", name, vs)
		}
		if headername.HasPrefix(name, prefix) {
			if w, ok := want[name]; !ok || len(vs) != 1 || vs[0] != w {
				t.Errorf("upstream saw %s: %q, want %q", name, vs, w)
			}
		}
	}
	for name, w := range want {
		if h.Get(name) != w {
			t.Errorf("verified %s = %q at the upstream, want %q", name, h.Get(name), w)
		}
	}
}

// ReadDocs returns the repository's README.md and every page under docs/,
// one after the other: the configs and commands the documentation shows,
// wherever they live. It finds them from the test's working directory (a
// package directory) up to the module root.
func ReadDocs() ([]byte, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	all, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		all = append(append(all, '\n'), b...)
	}
	return all, nil
}

// moduleRoot is the nearest directory at or above the working directory
// that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("gwtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Readyz is the body of the gateway's /readyz; P is gateway.ProviderStatus
// (named by the caller: this package cannot import gateway).
type Readyz[P any] struct {
	Status    string
	Providers []P
}

// DecodeReadyz decodes a /readyz body, failing t when it is not one.
func DecodeReadyz[P any](t testing.TB, body string) Readyz[P] {
	t.Helper()
	var rb Readyz[P]
	if err := json.Unmarshal([]byte(body), &rb); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	return rb
}
