package forwarded_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/forwarded"
)

// FuzzView feeds arbitrary forwarded headers from a trusted and an untrusted
// address: neither View nor Original ever panics; from an untrusted address
// the headers change nothing; the own view keeps the request's own method
// and target; Original either fails with ErrOriginal or holds an
// origin-form target of visible ASCII and an upper-case token method.
func FuzzView(f *testing.F) {
	for _, s := range [][7]string{
		{"proto=https;host=api.example.com", "https", "api.example.com", "443", "/x?y", "", "GET"},
		{`for="[2001:db8::1]";proto=https;host="a.example:8443", for=1.2.3.4`, "http, https", "a, b", "8080", "/", "/", "post"},
		{`proto="ht\"tp"`, "HTTPS", "[::1]:8443", "65536", "//evil", "/public", "DELETE"},
		{";;;,,,", "", "", "", "", "", ""},
		{`host=a;host=b`, "https,", "a:b:c", "+1", "/a b", "/a b", "GE T"},
		{`proto=https;host="unterminated`, "ftp", "Éxample.com", "00443", "/\x00", "/admin", "GÉT"},
		{"", "", "", "", "/admin/café", "/admin/caf%C3%A9", "get"},
		{"", "", "", "", "/public?a#b", "", "GET"},
		{"", "", "", "", "http://evil.example/admin", "*", "GET"},
		{"", "", "", "", "/" + strings.Repeat("a", 9<<10), "", "GET"},
		{"", "", "", "", "/a\x7f", "/a\t", "PUT"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6])
	}
	rs, err := forwarded.New(forwarded.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, fwd, proto, host, port, uri, uri2, method string) {
		r := httptest.NewRequest("GET", "http://backend.internal/p", nil)
		set := func() {
			r.Header.Set("Forwarded", fwd)
			r.Header.Set("X-Forwarded-Proto", proto)
			r.Header.Set("X-Forwarded-Host", host)
			r.Header.Set("X-Forwarded-Port", port)
			r.Header.Set("X-Original-Uri", uri)
			r.Header.Set("X-Original-Method", method)
			if uri2 != "" {
				r.Header.Set("X-Forwarded-Uri", uri2)
				r.Header.Set("X-Forwarded-Method", method)
			}
			r.Header.Set("Client-Cert", ":"+fwd+":")
		}
		r.RemoteAddr = "198.51.100.7:1"
		plain := rs.View(r)
		set()
		if got := rs.View(r); got.URL() != plain.URL() || got.URI != plain.URI || got.ClientCert != nil {
			t.Fatalf("untrusted headers changed the view: %+v vs %+v", got, plain)
		}
		if o, err := rs.Original(r); err != nil || o.URL() != plain.URL() || o.URI != plain.URI || o.Method != plain.Method {
			t.Fatalf("untrusted headers changed the original: %+v, %v", o, err)
		}
		r.RemoteAddr = "127.0.0.1:1"
		v := rs.View(r)
		if v.Scheme != "http" && v.Scheme != "https" {
			t.Fatalf("scheme %q", v.Scheme)
		}
		if v.Host == "" || strings.ContainsAny(v.Host, "/?#@ \t\r\n") || v.Host != strings.ToLower(v.Host) {
			t.Fatalf("host %q", v.Host)
		}
		if v.Method != "GET" || v.URI != "/p" || v.Path != "/p" {
			t.Fatalf("the own view took %s %q from headers", v.Method, v.URI)
		}
		o, err := rs.Original(r)
		if err != nil {
			if !errors.Is(err, forwarded.ErrOriginal) {
				t.Fatalf("Original error %v is not ErrOriginal", err)
			}
			return
		}
		if o.Scheme != v.Scheme || o.Host != v.Host || o.Port != v.Port {
			t.Fatalf("Original changed scheme or host: %+v vs %+v", o, v)
		}
		if !strings.HasPrefix(o.URI, "/") || !strings.HasPrefix(o.Path, "/") || strings.ContainsAny(o.Path, "?#") {
			t.Fatalf("original target %q path %q", o.URI, o.Path)
		}
		for i := 0; i < len(o.URI); i++ {
			if c := o.URI[i]; c <= 0x20 || c >= 0x7f || c == '#' {
				t.Fatalf("original target %q has byte %#x", o.URI, c)
			}
		}
		if o.Method == "" || o.Method != strings.ToUpper(o.Method) || strings.ContainsAny(o.Method, " \t\r\n") {
			t.Fatalf("original method %q", o.Method)
		}
	})
}

// FuzzDescribe: Describe never panics, and a view it accepts is well formed.
func FuzzDescribe(f *testing.F) {
	f.Add("https", "api.example.com:443", "GET", "/a?b")
	f.Add("HTTP", "[::1]:8080", "post", "/café")
	f.Add("ftp", "a/b", "G T", "http://x/#")
	f.Fuzz(func(t *testing.T, scheme, host, method, target string) {
		v, err := forwarded.Describe(scheme, host, method, target)
		if err != nil {
			if !errors.Is(err, forwarded.ErrOriginal) {
				t.Fatalf("error %v is not ErrOriginal", err)
			}
			return
		}
		if (v.Scheme != "http" && v.Scheme != "https") || v.Host == "" || v.Host != strings.ToLower(v.Host) || !strings.HasPrefix(v.URI, "/") || v.Method == "" {
			t.Fatalf("Describe accepted %+v", v)
		}
	})
}
