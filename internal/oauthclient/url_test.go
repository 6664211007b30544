package oauthclient_test

import (
	"errors"
	"testing"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

func TestURLRules(t *testing.T) {
	for _, tc := range []struct {
		url              string
		endpoint, issuer bool // accepted as such
		insecure         bool // AllowInsecureHTTP
	}{
		{url: "https://as.example/oauth2/token", endpoint: true, issuer: true},
		{url: "https://as.example", endpoint: true, issuer: true},
		{url: "https://as.example:8443/tenant/", endpoint: true, issuer: true},
		{url: "https://as.example/token?tenant=a", endpoint: true}, // RFC 6749 §3.2 keeps a query; RFC 8414 §2 does not
		{url: "https://as.example/token?", endpoint: true},
		{url: "http://127.0.0.1:8080/token", endpoint: true, issuer: true},
		{url: "http://[::1]/token", endpoint: true, issuer: true},
		{url: "http://localhost/token", endpoint: true, issuer: true},
		{url: "http://as.example/token", insecure: true, endpoint: true, issuer: true},
		{url: "http://as.example/token"},            // secrets in clear
		{url: "http://127.0.0.1.as.example/token"},  // not loopback
		{url: "https://as.example/token#frag"},      // RFC 6749 §3.2
		{url: "https://as.example/token#"},          // an empty fragment too
		{url: "https://gw:s3cret@as.example/token"}, // credentials in the URL
		{url: "ftp://as.example/token"},
		{url: "/token"},
		{url: "as.example/token"},
		{url: "https:as.example"},
		{url: "https://"},
		{url: ""},
		{url: "https://as.example/\x00"},
		{url: "https://as example/token"},
	} {
		err := oauthclient.CheckEndpoint(tc.url, tc.insecure)
		if (err == nil) != tc.endpoint || err != nil && !errors.Is(err, oauthclient.ErrInvalidConfig) {
			t.Errorf("endpoint %q: %v, want accepted %v", tc.url, err, tc.endpoint)
		}
		err = oauthclient.CheckIssuer(tc.url, tc.insecure)
		if (err == nil) != tc.issuer || err != nil && !errors.Is(err, oauthclient.ErrInvalidConfig) {
			t.Errorf("issuer %q: %v, want accepted %v", tc.url, err, tc.issuer)
		}
	}
}
