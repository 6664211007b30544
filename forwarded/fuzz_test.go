package forwarded_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/forwarded"
)

// FuzzView feeds arbitrary forwarded headers from a trusted and an untrusted
// address: the View never panics, is unchanged by them from an untrusted
// address, and only ever holds well-formed values.
func FuzzView(f *testing.F) {
	for _, s := range [][5]string{
		{"proto=https;host=api.example.com", "https", "api.example.com", "443", "/x?y"},
		{`for="[2001:db8::1]";proto=https;host="a.example:8443", for=1.2.3.4`, "http, https", "a, b", "8080", "/"},
		{`proto="ht\"tp"`, "HTTPS", "[::1]:8443", "65536", "//evil"},
		{";;;,,,", "", "", "", ""},
		{`host=a;host=b`, "https,", "a:b:c", "+1", "/a b"},
		{`proto=https;host="unterminated`, "ftp", "Éxample.com", "00443", "/\x00"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	rs, err := forwarded.New(forwarded.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, fwd, proto, host, port, uri string) {
		r := httptest.NewRequest("GET", "http://backend.internal/p", nil)
		set := func() {
			r.Header.Set("Forwarded", fwd)
			r.Header.Set("X-Forwarded-Proto", proto)
			r.Header.Set("X-Forwarded-Host", host)
			r.Header.Set("X-Forwarded-Port", port)
			r.Header.Set("X-Original-Uri", uri)
			r.Header.Set("Client-Cert", ":"+fwd+":")
		}
		r.RemoteAddr = "198.51.100.7:1"
		plain := rs.View(r)
		set()
		if got := rs.View(r); got.URL() != plain.URL() || got.URI != plain.URI || got.ClientCert != nil {
			t.Fatalf("untrusted headers changed the view: %+v vs %+v", got, plain)
		}
		r.RemoteAddr = "127.0.0.1:1"
		v := rs.View(r)
		if v.Scheme != "http" && v.Scheme != "https" {
			t.Fatalf("scheme %q", v.Scheme)
		}
		if v.Host == "" || strings.ContainsAny(v.Host, "/?#@ \t\r\n") || v.Host != strings.ToLower(v.Host) {
			t.Fatalf("host %q", v.Host)
		}
		if !strings.HasPrefix(v.Path, "/") || strings.ContainsAny(v.Path, "? \r\n") {
			t.Fatalf("path %q", v.Path)
		}
	})
}
