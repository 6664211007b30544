package gateway

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internal/proxytest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The README's "Behind your proxy" configs are these files, verbatim
// (TestREADMEHasTheTestedProxyConfigs): jwtgate at 127.0.0.1:8080 and the
// app at 127.0.0.1:9000, which the tests replace with their own ports.
const (
	readmeJwtgate  = "127.0.0.1:8080"
	readmeUpstream = "127.0.0.1:9000"
)

func proxyConfig(t *testing.T, name, jwtgate, upstream string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/behind-proxy/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(readmeJwtgate, jwtgate, readmeUpstream, upstream).Replace(string(b))
}

func TestREADMEHasTheTestedProxyConfigs(t *testing.T) {
	readme, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nginx.conf", "Caddyfile", "jwtgate.yaml", "traefik.yml", "envoy.yaml"} {
		b, err := os.ReadFile("testdata/behind-proxy/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(readme), string(b)) {
			t.Errorf("README.md does not contain testdata/behind-proxy/%s verbatim: copy it there again", name)
		}
	}
}

// behindProxy is the README's decision service and an app behind a real
// proxy.
type behindProxy struct {
	proxy  *proxytest.Proxy
	client *http.Client
}

// echoApp is the app behind the proxy: it answers with the headers it got.
func echoApp(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func decisionServer(t *testing.T, issuer string) string {
	t.Helper()
	cfg := decisionYAML(t)
	cfg.Issuer, cfg.Listen = issuer, "127.0.0.1:0"
	g := startGateway(t, cfg, nil)
	u, err := url.Parse(g.url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func (b *behindProxy) get(t *testing.T, path, token string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.proxy.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func newBehindProxy(t *testing.T, p *proxytest.Proxy) *behindProxy {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &behindProxy{proxy: p, client: &http.Client{Transport: tr}}
}

// proxyStarters start each tested proxy with its README config.
var proxyStarters = map[string]func(t *testing.T, jwtgate, app string) *proxytest.Proxy{
	"nginx": func(t *testing.T, jwtgate, app string) *proxytest.Proxy {
		return proxytest.Nginx(t, proxyConfig(t, "nginx.conf", jwtgate, app))
	},
	"caddy": func(t *testing.T, jwtgate, app string) *proxytest.Proxy {
		return proxytest.Caddy(t, proxyConfig(t, "Caddyfile", jwtgate, app))
	},
}

func TestBehindRealProxies(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	down := gwtest.StartIDP(t, true) // its keys never load: 503
	app := echoApp(t)
	alice := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	root := idp.Mint(t, jwtgatetest.Claims{Subject: "root", Audience: "api", Scopes: []string{"admin"}, Extra: map[string]any{"email": "root@example.com"}})
	forged := []string{
		"X-Jwtgate-Subject", "forged-sub", "X-Jwtgate-Email", "forged@evil",
		"X-Original-URI", "/public", "X-Forwarded-Uri", "/public", // the client's own: the proxy overwrites them
	}

	for name, start := range proxyStarters {
		t.Run(name, func(t *testing.T) {
			jwtgate := decisionServer(t, idp.Issuer())
			bp := newBehindProxy(t, start(t, jwtgate, app))

			t.Run("valid token reaches the app with the claim headers", func(t *testing.T) {
				resp, body := bp.get(t, "/app/x?y=1", root, forged...)
				if resp.StatusCode != 200 {
					t.Fatalf("%d: %s\n%s", resp.StatusCode, body, bp.proxy.Output())
				}
				h := gwtest.UpstreamHeaders(t, body)
				if vs := h.Values("X-Jwtgate-Subject"); len(vs) != 1 || vs[0] != "root" {
					t.Errorf("app saw X-Jwtgate-Subject %q", vs)
				}
				if vs := h.Values("X-Jwtgate-Email"); len(vs) != 1 || vs[0] != "root@example.com" {
					t.Errorf("app saw X-Jwtgate-Email %q", vs)
				}
			})
			t.Run("a forged claim header never reaches the app", func(t *testing.T) {
				resp, body := bp.get(t, "/app", alice, forged...) // alice has no email claim
				if resp.StatusCode != 200 {
					t.Fatalf("%d: %s", resp.StatusCode, body)
				}
				if strings.Contains(body, "forged") {
					t.Errorf("forged header reached the app: %s", body)
				}
				h := gwtest.UpstreamHeaders(t, body)
				if h.Get("X-Jwtgate-Subject") != "alice" || h.Get("X-Jwtgate-Email") != "" {
					t.Errorf("app saw %v", h)
				}
			})
			t.Run("the client's X-Original-URI does not change the route", func(t *testing.T) {
				if resp, body := bp.get(t, "/admin/x", alice, forged...); resp.StatusCode != 403 {
					t.Errorf("alice on /admin with a forged original URI: %d %s", resp.StatusCode, body)
				}
			})
			checkDeniedBehindProxy(t, bp, alice)
			t.Run("jwtgate unreachable fails closed", func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				closed := ln.Addr().String()
				ln.Close()
				bpGone := newBehindProxy(t, start(t, closed, app))
				if resp, body := bpGone.get(t, "/app", root); resp.StatusCode < 500 || strings.Contains(body, `"path"`) {
					t.Errorf("%d: %s", resp.StatusCode, body)
				}
			})
			t.Run("503 keys unavailable", func(t *testing.T) {
				bpDown := newBehindProxy(t, start(t, decisionServer(t, down.Issuer()), app))
				resp, body := bpDown.get(t, "/app", alice)
				if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
					t.Errorf("%d Retry-After=%q, want 503 with 5: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
				}
			})
		})
	}
}

// A trusted proxy's original request that jwtgate cannot take as sent is
// decided by its own route or refused, never by the sub-request's path
// (/_jwtgate, which has no requirements): through the README's real nginx
// and Caddy configs (issue 19, item 1).
func TestBehindRealProxiesUnusualOriginals(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	app := echoApp(t)
	alice := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	root := idp.Mint(t, jwtgatetest.Claims{Subject: "root", Audience: "api", Scopes: []string{"admin"}})
	for name, start := range proxyStarters {
		t.Run(name, func(t *testing.T) {
			p := start(t, decisionServer(t, idp.Issuer()), app)
			addr := strings.TrimPrefix(p.URL, "http://")
			// nginx's $request_uri passes raw UTF-8 as sent; Caddy's {uri}
			// likewise. Percent-encoded, it is /admin's.
			for _, c := range []struct {
				token  string
				status int
			}{{"", 401}, {alice, 403}, {root, 200}} {
				var hdr []string
				if c.token != "" {
					hdr = []string{"Authorization", "Bearer " + c.token}
				}
				status, body := rawGet(t, addr, "/admin/café", hdr...)
				if status != c.status {
					t.Errorf("GET /admin/café, token %v: %d, want %d: %s\n%s", c.token != "", status, c.status, body, p.Output())
				}
				if c.status != 200 && strings.Contains(body, `"path"`) {
					t.Errorf("a rejected request reached the app: %s", body)
				}
			}
			// A 9 KiB path: longer than jwtgate takes an original, so
			// refused (Caddy: 400 from jwtgate; nginx refuses the request
			// line itself) — never 200 for a token without /admin's scope.
			long := "/admin/" + strings.Repeat("a", 9<<10)
			for _, tok := range []string{alice, root} {
				status, body := rawGet(t, addr, long, "Authorization", "Bearer "+tok)
				if status == 200 || strings.Contains(body, `"path"`) {
					t.Errorf("9 KiB path under /admin: %d %.200s", status, body)
				}
				if name == "caddy" && status != 400 {
					t.Errorf("9 KiB path through Caddy: %d, want jwtgate's 400", status)
				}
			}
		})
	}
}

// DPoP on a gateway proxy route behind a real Caddy, which passes the
// client's X-Forwarded-Method/-Uri on from loopback (trusted by default):
// a proof for GET /echo/a does not let DELETE /echo/b/delete-me through
// (issue 19, item 3); the proof for the request itself, with Caddy's
// scheme and host, does.
func TestDPoPProxyRouteBehindRealCaddy(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(), DPoP: DPoP{Mode: DPoPRequired},
		Routes: []Route{{Prefix: "/echo/", Upstream: up.URL}},
	}, nil)
	g.waitReady(t)
	caddy := proxytest.Caddy(t, "reverse_proxy "+strings.TrimPrefix(g.url, "http://"))
	bp := newBehindProxy(t, caddy)
	c := newDPoPClient(t, idp)
	send := func(method, path, proof string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, caddy.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "DPoP "+c.token)
		req.Header.Set("DPoP", proof)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := bp.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := send("DELETE", "/echo/b/delete-me", c.proof(t, "GET", caddy.URL+"/echo/a", ""),
		"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/echo/a")
	wantStatus(t, "proof for GET /echo/a on DELETE /echo/b/delete-me", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
	if strings.Contains(body, `"path"`) {
		t.Fatalf("the DELETE reached the upstream: %s", body)
	}
	resp, body = send("DELETE", "/echo/b", c.proof(t, "DELETE", caddy.URL+"/echo/b", ""),
		"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/echo/a")
	wantStatus(t, "proof for the request itself", resp, body, http.StatusOK)
	if !strings.Contains(body, `"path":"/echo/b"`) {
		t.Fatalf("the upstream did not get /echo/b: %s", body)
	}
}

// checkDeniedBehindProxy: every refusal reaches the client through the
// proxy with its status and challenge, and never reaches the app.
func checkDeniedBehindProxy(t *testing.T, bp *behindProxy, alice string) {
	for _, c := range []struct {
		name, path, token string
		status            int
		header, want      string
	}{
		{"401 no token", "/app", "", 401, "WWW-Authenticate", `Bearer realm="jwtgate"`},
		{"401 bad token", "/app", "x.y.z", 401, "WWW-Authenticate", `error="invalid_token"`},
		{"403 scope", "/admin/users", alice, 403, "WWW-Authenticate", `error="insufficient_scope"`},
		{"403 scope on an unclean path", "/public/%2e%2e/admin", alice, 403, "WWW-Authenticate", `scope="admin"`},
		{"200 on the rate", "/limited/a", alice, 200, "", ""},
		{"429 over the rate", "/limited/a", alice, 429, "Retry-After", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := bp.get(t, c.path, c.token)
			if resp.StatusCode != c.status {
				t.Fatalf("%d, want %d: %s\n%s", resp.StatusCode, c.status, body, bp.proxy.Output())
			}
			if c.header != "" && (len(resp.Header.Values(c.header)) != 1 || !strings.Contains(resp.Header.Get(c.header), c.want)) {
				t.Errorf("%s = %q, want one containing %q (all: %v)", c.header, resp.Header.Values(c.header), c.want, resp.Header)
			}
			if c.status == 429 && (resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Limit") != "1") {
				t.Errorf("429 headers: %v", resp.Header)
			}
			if c.status != 200 && strings.Contains(body, `"path"`) {
				t.Errorf("a rejected request reached the app: %s", body)
			}
		})
	}
}
