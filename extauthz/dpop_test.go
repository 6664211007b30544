package extauthz_test

import (
	"net/http"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/jwtgate/jwtgate/extauthz"
	"github.com/jwtgate/jwtgate/internal/authtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// DPoP proofs are checked against the request Envoy describes: the
// CheckRequest's scheme, host, method and path, never http:// whatever
// Envoy reports (issue 19, item 4), nor a forwarded header in the
// CheckRequest's headers.
func TestDPoPAgainstTheCheckRequest(t *testing.T) {
	idp := authtest.NewIssuer(t)
	v := authtest.NewVerifier(t, idp, middleware.Config{DPoP: middleware.DPoP{Mode: middleware.DPoPAllowed}})
	s, err := extauthz.New(extauthz.Config{Verifier: v, Routes: map[string]middleware.Route{"/admin": {Scopes: []string{"admin"}}}})
	if err != nil {
		t.Fatal(err)
	}
	client := serve(t, s)
	key := jwtgatetest.MustDPoPKey(t, "ES256")
	tok := idp.Mint(t, authtest.Claims(map[string]any{"cnf": map[string]any{"jkt": key.JKT()}}))

	req := func(scheme, host, method, path, proof string, hdr ...string) *authv3.CheckRequest {
		h := map[string]string{"authorization": "DPoP " + tok, "dpop": proof}
		for i := 0; i+1 < len(hdr); i += 2 {
			h[hdr[i]] = hdr[i+1]
		}
		r := checkRequest(method, path, h)
		r.Attributes.Request.Http.Scheme, r.Attributes.Request.Http.Host = scheme, host
		return r
	}
	proof := func(method, htu string) string {
		return key.MustProof(t, jwtgatetest.ProofOptions{Method: method, URL: htu, AccessToken: tok})
	}
	for _, c := range []struct {
		name                       string
		scheme, host, method, path string
		htm, htu                   string
		hdr                        []string
		allowed                    bool
	}{
		{name: "https proof for an https request", scheme: "https", host: "api.test", method: "GET", path: "/items?page=2",
			htm: "GET", htu: "https://api.test/items", allowed: true},
		{name: "http proof for an https request", scheme: "https", host: "api.test", method: "GET", path: "/items",
			htm: "GET", htu: "http://api.test/items"},
		{name: "http proof for an http request", scheme: "http", host: "api.test", method: "GET", path: "/items",
			htm: "GET", htu: "http://api.test/items", allowed: true},
		{name: "https proof for an http request", scheme: "http", host: "api.test", method: "GET", path: "/items",
			htm: "GET", htu: "https://api.test/items"},
		{name: "scheme in upper case, default port", scheme: "HTTPS", host: "API.test:443", method: "POST", path: "/items",
			htm: "POST", htu: "https://api.test/items", allowed: true},
		{name: "another port", scheme: "https", host: "api.test:8443", method: "GET", path: "/items",
			htm: "GET", htu: "https://api.test/items"},
		{name: "another method", scheme: "https", host: "api.test", method: "DELETE", path: "/items",
			htm: "GET", htu: "https://api.test/items"},
		{name: "another path", scheme: "https", host: "api.test", method: "GET", path: "/items/7",
			htm: "GET", htu: "https://api.test/items"},
		{name: "forwarded headers in the CheckRequest do not count", scheme: "https", host: "api.test", method: "DELETE", path: "/b",
			htm: "GET", htu: "http://evil.example/a",
			hdr: []string{"x-forwarded-proto", "http", "x-forwarded-host", "evil.example", "x-forwarded-uri", "/a", "x-forwarded-method", "GET"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := check(t, client, req(c.scheme, c.host, c.method, c.path, proof(c.htm, c.htu), c.hdr...))
			ok := resp.GetStatus().GetCode() == int32(codes.OK)
			if ok != c.allowed {
				t.Fatalf("allowed %v, want %v: %v", ok, c.allowed, resp)
			}
			if !c.allowed {
				d := resp.GetDeniedResponse()
				www := ""
				for _, o := range d.GetHeaders() {
					if o.GetHeader().GetKey() == "www-authenticate" {
						www += o.GetHeader().GetValue()
					}
				}
				if d.GetStatus().GetCode() != http.StatusUnauthorized || !strings.Contains(www, `error="invalid_dpop_proof"`) {
					t.Fatalf("denied with %d %q, want 401 invalid_dpop_proof", d.GetStatus().GetCode(), www)
				}
			}
		})
	}
	// A scheme that is neither http nor https describes no request a
	// proof could be for: 400.
	resp := check(t, client, req("ftp", "api.test", "GET", "/items", proof("GET", "ftp://api.test/items")))
	if d := resp.GetDeniedResponse(); d.GetStatus().GetCode() != http.StatusBadRequest {
		t.Fatalf("scheme ftp: %v", resp)
	}
}
