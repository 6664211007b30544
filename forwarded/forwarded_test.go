package forwarded_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/jwtgate/jwtgate/forwarded"
)

func resolver(t *testing.T, cfg forwarded.Config) *forwarded.Resolver {
	t.Helper()
	r, err := forwarded.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestView(t *testing.T) {
	der := []byte("not really a certificate, but bytes")
	certHdr := ":" + base64.StdEncoding.EncodeToString(der) + ":"
	for _, c := range []struct {
		name    string
		cfg     forwarded.Config
		remote  string
		target  string
		hdr     map[string][]string
		tls     bool
		wantURL string
		method  string
		uri     string
		cert    bool
		proxied bool
	}{
		{name: "direct request", remote: "203.0.113.9:1234", target: "http://API.Example.com/a%20b?q=1",
			wantURL: "http://api.example.com/a%20b", method: "GET", uri: "/a%20b?q=1"},
		{name: "direct TLS with default port", remote: "203.0.113.9:1234", target: "https://api.example.com:443/x", tls: true,
			wantURL: "https://api.example.com/x", method: "GET", uri: "/x"},
		{name: "untrusted forwarded headers ignored", remote: "203.0.113.9:1234", target: "http://api.example.com/x",
			hdr: map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"},
				"Forwarded": {"proto=https;host=evil.example"}, "X-Original-Uri": {"/admin"}, "X-Original-Method": {"DELETE"},
				"Client-Cert": {certHdr}},
			wantURL: "http://api.example.com/x", method: "GET", uri: "/x"},
		{name: "trusted X-Forwarded", remote: "127.0.0.1:5555", target: "http://backend:8080/x",
			hdr:     map[string][]string{"X-Forwarded-Proto": {"HTTPS"}, "X-Forwarded-Host": {"Api.Example.com"}, "X-Forwarded-Port": {"8443"}},
			wantURL: "https://api.example.com:8443/x", method: "GET", uri: "/x", proxied: true},
		{name: "trusted X-Forwarded default port dropped", remote: "[::1]:5555", target: "http://backend:8080/x",
			hdr:     map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"api.example.com"}, "X-Forwarded-Port": {"443"}},
			wantURL: "https://api.example.com/x", method: "GET", uri: "/x", proxied: true},
		{name: "Forwarded wins and its last element counts", remote: "127.0.0.1:5555", target: "http://backend/x",
			hdr: map[string][]string{"Forwarded": {`proto=http;host=client.forged`, `for=1.2.3.4;proto=https;host="api.example.com"`},
				"X-Forwarded-Host": {"other.example"}},
			wantURL: "https://api.example.com/x", method: "GET", uri: "/x", proxied: true},
		{name: "X-Forwarded list: last value", remote: "127.0.0.1:5555", target: "http://backend/x",
			hdr:     map[string][]string{"X-Forwarded-Proto": {"http, https"}, "X-Forwarded-Host": {"forged.example, api.example.com"}},
			wantURL: "https://api.example.com/x", method: "GET", uri: "/x", proxied: true},
		// The original request's headers describe another request: the
		// own view keeps the request's method and target (see TestOriginal).
		{name: "nginx auth_request: own method and target", remote: "127.0.0.1:5555", target: "http://auth/check",
			hdr:     map[string][]string{"X-Original-Uri": {"/v1/things?x=1"}, "X-Original-Method": {"post"}, "X-Forwarded-Host": {"api.example.com"}},
			wantURL: "http://api.example.com/check", method: "GET", uri: "/check", proxied: true},
		{name: "traefik forward auth: own method and target", remote: "10.1.2.3:5555", cfg: forwarded.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			target: "http://auth/check",
			hdr: map[string][]string{"X-Forwarded-Uri": {"/v1/a"}, "X-Forwarded-Method": {"PUT"},
				"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"api.example.com"}},
			wantURL: "https://api.example.com/check", method: "GET", uri: "/check", proxied: true},
		{name: "loopback not trusted when proxies are configured", remote: "127.0.0.1:5555",
			cfg: forwarded.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, target: "http://backend/x",
			hdr: map[string][]string{"X-Forwarded-Host": {"evil.example"}}, wantURL: "http://backend/x", method: "GET", uri: "/x"},
		{name: "trusted Client-Cert", remote: "127.0.0.1:5555", target: "http://backend/x",
			hdr: map[string][]string{"Client-Cert": {certHdr}}, wantURL: "http://backend/x", method: "GET", uri: "/x", cert: true, proxied: true},
		{name: "invalid values ignored", remote: "127.0.0.1:5555", target: "http://backend/x",
			hdr: map[string][]string{"X-Forwarded-Proto": {"ftp"}, "X-Forwarded-Host": {"a/b"}, "X-Forwarded-Port": {"0"},
				"X-Original-Uri": {"admin"}, "X-Original-Method": {"GE T"}, "Client-Cert": {"abc"}},
			wantURL: "http://backend/x", method: "GET", uri: "/x", proxied: true},
		{name: "ExternalURL overrides everything", remote: "127.0.0.1:5555", cfg: forwarded.Config{ExternalURL: "https://API.example.com:443"},
			target:  "http://backend:8080/x?y",
			hdr:     map[string][]string{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"http"}},
			wantURL: "https://api.example.com/x", method: "GET", uri: "/x?y", proxied: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := resolver(t, c.cfg)
			r := httptest.NewRequest("GET", c.target, nil)
			r.RemoteAddr = c.remote
			for k, v := range c.hdr {
				r.Header[k] = v
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			v := rs.View(r)
			if got := v.URL(); got != c.wantURL {
				t.Errorf("URL = %q, want %q", got, c.wantURL)
			}
			if v.Method != c.method || v.URI != c.uri || v.Proxied != c.proxied {
				t.Errorf("method %q uri %q proxied %v, want %q %q %v", v.Method, v.URI, v.Proxied, c.method, c.uri, c.proxied)
			}
			if got := v.ClientCert != nil; got != c.cert || (c.cert && !bytes.Equal(v.ClientCert, der)) {
				t.Errorf("client cert %x, want %v", v.ClientCert, c.cert)
			}
		})
	}
}

func TestViewTLSClientCertificate(t *testing.T) {
	rs := resolver(t, forwarded.Config{})
	r := httptest.NewRequest("GET", "https://api.example.com/", nil)
	r.RemoteAddr = "203.0.113.1:1"
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte{1, 2, 3}}}}
	r.Header.Set("Client-Cert", ":"+base64.StdEncoding.EncodeToString([]byte{9})+":")
	if v := rs.View(r); !bytes.Equal(v.ClientCert, []byte{1, 2, 3}) {
		t.Fatalf("ClientCert = %x, want the TLS peer's", v.ClientCert)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, u := range []string{"ftp://x", "https://x/path", "https://x?q", "https://u@x", "https://", "https://x#f", "x"} {
		if _, err := forwarded.New(forwarded.Config{ExternalURL: u}); !errors.Is(err, forwarded.ErrInvalidConfig) {
			t.Errorf("ExternalURL %q: err %v", u, err)
		}
	}
	if _, err := forwarded.New(forwarded.Config{TrustedProxies: []netip.Prefix{{}}}); !errors.Is(err, forwarded.ErrInvalidConfig) {
		t.Errorf("invalid prefix: err %v", err)
	}
}

func TestEmptyTrustedProxiesTrustsNobody(t *testing.T) {
	rs := resolver(t, forwarded.Config{TrustedProxies: []netip.Prefix{}})
	if rs.Trusted("127.0.0.1:1") {
		t.Fatal("loopback trusted with an empty, non-nil list")
	}
}
