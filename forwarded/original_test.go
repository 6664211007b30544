package forwarded_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/forwarded"
)

// subRequest is a proxy's sub-request GET /_jwtgate from remote with the
// headers (name, value pairs; a name may repeat).
func subRequest(remote string, hdr ...string) *http.Request {
	r := httptest.NewRequest("GET", "http://auth.internal/_jwtgate", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

// A trusted proxy's original-request headers never change the request's
// own view: a DPoP proof on a proxy route is checked against the request
// that is actually served (RFC 9449 §4.3 checks 8–9). Scheme and host still
// come from the proxy.
func TestViewKeepsTheRequestsOwnMethodAndTarget(t *testing.T) {
	rs := resolver(t, forwarded.Config{})
	r := httptest.NewRequest("GET", "http://backend/echo/a?x=1", nil)
	r.RemoteAddr = "127.0.0.1:1"
	for _, h := range [][2]string{
		{"X-Forwarded-Method", "DELETE"}, {"X-Forwarded-Uri", "/echo/b/delete-me"},
		{"X-Original-Method", "DELETE"}, {"X-Original-Uri", "/echo/b/delete-me"},
		{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "api.example.com"},
	} {
		r.Header.Set(h[0], h[1])
	}
	v := rs.View(r)
	if v.Method != "GET" || v.URI != "/echo/a?x=1" || v.Path != "/echo/a" {
		t.Errorf("own view: %s %s (path %s), want GET /echo/a?x=1", v.Method, v.URI, v.Path)
	}
	if v.URL() != "https://api.example.com/echo/a" || !v.Proxied {
		t.Errorf("URL %q proxied %v: scheme and host still come from the trusted proxy", v.URL(), v.Proxied)
	}
}

func TestOriginal(t *testing.T) {
	long := "/" + strings.Repeat("a", forwarded.MaxURISize-1)
	for _, c := range []struct {
		name         string
		remote       string
		hdr          []string
		method, uri  string
		path, url    string
		wantOriginal bool // false: ErrOriginal
	}{
		{name: "no headers: the own request", remote: "127.0.0.1:1",
			method: "GET", uri: "/_jwtgate", path: "/_jwtgate", wantOriginal: true},
		{name: "nginx auth_request", remote: "127.0.0.1:1",
			hdr:    []string{"X-Original-URI", "/v1/things?x=1", "X-Original-Method", "post", "X-Forwarded-Host", "api.example.com"},
			method: "POST", uri: "/v1/things?x=1", path: "/v1/things", url: "http://api.example.com/v1/things", wantOriginal: true},
		{name: "traefik forward auth", remote: "127.0.0.1:1",
			hdr:    []string{"X-Forwarded-Uri", "/v1/a", "X-Forwarded-Method", "PUT", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.com"},
			method: "PUT", uri: "/v1/a", path: "/v1/a", url: "https://api.example.com/v1/a", wantOriginal: true},
		{name: "raw UTF-8 percent-encoded", remote: "127.0.0.1:1",
			hdr:    []string{"X-Original-URI", "/admin/café?q=ü", "X-Original-Method", "GET"},
			method: "GET", uri: "/admin/caf%C3%A9?q=%C3%BC", path: "/admin/caf%C3%A9", wantOriginal: true},
		{name: "a lone high byte percent-encoded", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", "/admin/\xff"},
			method: "GET", uri: "/admin/%FF", path: "/admin/%FF", wantOriginal: true},
		{name: "both URI headers agreeing", remote: "127.0.0.1:1",
			hdr:    []string{"X-Forwarded-Uri", "/admin", "X-Original-URI", "/admin"},
			method: "GET", uri: "/admin", path: "/admin", wantOriginal: true},
		{name: "both agreeing once encoded", remote: "127.0.0.1:1",
			hdr:    []string{"X-Forwarded-Uri", "/caf%C3%A9", "X-Original-URI", "/café"},
			method: "GET", uri: "/caf%C3%A9", path: "/caf%C3%A9", wantOriginal: true},
		{name: "both methods agreeing", remote: "127.0.0.1:1",
			hdr:    []string{"X-Forwarded-Method", "delete", "X-Original-Method", "DELETE", "X-Forwarded-Uri", "/x"},
			method: "DELETE", uri: "/x", path: "/x", wantOriginal: true},
		{name: "exactly MaxURISize", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", long},
			method: "GET", uri: long, path: long, wantOriginal: true},
		{name: "untrusted: even unusable headers are ignored", remote: "203.0.113.1:1",
			hdr:    []string{"X-Original-URI", "/admin/\x01", "X-Forwarded-Uri", "/other", "X-Forwarded-Method", "GE T", "X-Forwarded-Method", "PUT"},
			method: "GET", uri: "/_jwtgate", path: "/_jwtgate", wantOriginal: true},

		{name: "control byte", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", "/admin\x01"}},
		{name: "NUL", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", "/admin\x00"}},
		{name: "space inside", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", "/admin /x"}},
		{name: "tab inside", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", "/admin\t/x"}},
		{name: "line feed", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", "/admin\n"}},
		{name: "DEL", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", "/admin\x7f"}},
		{name: "raw fragment", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", "/public?a#b"}},
		{name: "absolute-form", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", "http://app.example.com/admin"}},
		{name: "relative", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", "admin"}},
		{name: "asterisk-form", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", "*"}},
		{name: "empty", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", ""}},
		{name: "longer than MaxURISize", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", long + "a"}},
		{name: "9 KiB", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", "/" + strings.Repeat("x", 9<<10)}},
		{name: "X-Original-URI twice", remote: "127.0.0.1:1", hdr: []string{"X-Original-URI", "/admin", "X-Original-URI", "/admin"}},
		{name: "X-Forwarded-Uri twice", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", "/public", "X-Forwarded-Uri", "/admin"}},
		{name: "the URI headers disagree", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", "/public", "X-Original-URI", "/admin"}},
		{name: "one URI header unusable, the other fine", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Uri", "/public", "X-Original-URI", "/admin/\x01"}},
		{name: "method not a token", remote: "127.0.0.1:1", hdr: []string{"X-Original-Method", "GE T", "X-Original-URI", "/admin"}},
		{name: "method with a high byte", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Method", "GÉT", "X-Forwarded-Uri", "/admin"}},
		{name: "method empty", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Method", "", "X-Forwarded-Uri", "/admin"}},
		{name: "method twice", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Method", "GET", "X-Forwarded-Method", "GET"}},
		{name: "the methods disagree", remote: "127.0.0.1:1", hdr: []string{"X-Forwarded-Method", "GET", "X-Original-Method", "DELETE"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := resolver(t, forwarded.Config{})
			v, err := rs.Original(subRequest(c.remote, c.hdr...))
			if !c.wantOriginal {
				if !errors.Is(err, forwarded.ErrOriginal) {
					t.Fatalf("Original = %s %q, %v; want ErrOriginal", v.Method, v.URI, err)
				}
				if !reflect.DeepEqual(v, forwarded.View{}) {
					t.Errorf("a view with the error: %+v", v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Method != c.method || v.URI != c.uri || v.Path != c.path {
				t.Errorf("Original = %s %q (path %q), want %s %q (%q)", v.Method, v.URI, v.Path, c.method, c.uri, c.path)
			}
			if c.url != "" && v.URL() != c.url {
				t.Errorf("URL = %q, want %q", v.URL(), c.url)
			}
		})
	}
}

// The error names the header, never its value.
func TestOriginalErrorDoesNotEchoTheValue(t *testing.T) {
	rs := resolver(t, forwarded.Config{})
	_, err := rs.Original(subRequest("127.0.0.1:1", "X-Original-URI", "/secret-path#frag"))
	if err == nil || !strings.Contains(err.Error(), "X-Original-Uri") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v", err)
	}
}

func TestDescribe(t *testing.T) {
	v, err := forwarded.Describe("HTTPS", "API.example.com:443", "POST", "/v1/café?x=1")
	if err != nil {
		t.Fatal(err)
	}
	want := forwarded.View{Scheme: "https", Host: "api.example.com", Port: "443", Method: "POST", URI: "/v1/caf%C3%A9?x=1", Path: "/v1/caf%C3%A9"}
	if v.Scheme != want.Scheme || v.Host != want.Host || v.Port != want.Port || v.Method != want.Method || v.URI != want.URI || v.Path != want.Path {
		t.Fatalf("Describe = %+v, want %+v", v, want)
	}
	for _, c := range [][4]string{
		{"ftp", "a", "GET", "/"},
		{"", "a", "GET", "/"},
		{"https", "", "GET", "/"},
		{"https", "a/b", "GET", "/"},
		{"https", "a:99999", "GET", "/"},
		{"https", "a", "G T", "/"},
		{"https", "a", "", "/"},
		{"https", "a", "GET", "http://a/"},
		{"https", "a", "GET", "/a#b"},
		{"https", "a", "GET", "/a\x00"},
		{"https", "a", "GET", ""},
	} {
		if _, err := forwarded.Describe(c[0], c[1], c[2], c[3]); !errors.Is(err, forwarded.ErrOriginal) {
			t.Errorf("Describe(%q) err = %v, want ErrOriginal", c, err)
		}
	}
}

// A view in the context is the request, for View and Original alike,
// whatever the request's fields and headers say; ExternalURL still fixes
// scheme and host.
func TestViewFromContext(t *testing.T) {
	desc, err := forwarded.Describe("https", "api.example.com", "DELETE", "/items/7")
	if err != nil {
		t.Fatal(err)
	}
	r := subRequest("127.0.0.1:1", "X-Forwarded-Uri", "/other", "X-Forwarded-Host", "evil.example", "X-Original-URI", "\x01")
	r = r.WithContext(forwarded.NewContext(r.Context(), desc))
	if got, ok := forwarded.FromContext(r.Context()); !ok || !reflect.DeepEqual(got, desc) {
		t.Fatalf("FromContext = %+v, %v", got, ok)
	}
	rs := resolver(t, forwarded.Config{})
	if v := rs.View(r); !reflect.DeepEqual(v, desc) {
		t.Errorf("View = %+v, want the context's %+v", v, desc)
	}
	if v, err := rs.Original(r); err != nil || !reflect.DeepEqual(v, desc) {
		t.Errorf("Original = %+v, %v, want the context's %+v", v, err, desc)
	}
	var nilRS *forwarded.Resolver
	if v := nilRS.View(r); !reflect.DeepEqual(v, desc) {
		t.Errorf("nil Resolver: View = %+v", v)
	}
	ext := resolver(t, forwarded.Config{ExternalURL: "http://public.example:8080"})
	if v := ext.View(r); v.URL() != "http://public.example:8080/items/7" || v.Method != "DELETE" {
		t.Errorf("ExternalURL over the context's view: %s %s", v.Method, v.URL())
	}
	if _, ok := forwarded.FromContext(context.Background()); ok {
		t.Error("FromContext found a view in an empty context")
	}
}
