package oauthclient_test

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"testing"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

// FuzzParseMetadata: a metadata document comes from the network. Whatever
// it holds, ParseMetadata returns an endpoint that passes CheckEndpoint
// from a document whose issuer is the configured one, or an error
// matching ErrDiscovery; it never panics.
func FuzzParseMetadata(f *testing.F) {
	const iss = "https://as.example"
	f.Add([]byte(`{"issuer":"https://as.example","token_endpoint":"https://as.example/token"}`), iss, false)
	f.Add([]byte(`{"issuer":"https://as.example","token_endpoint":"http://evil.example/token"}`), iss, false)
	f.Add([]byte(`{"issuer":"https://as.example","token_endpoint":"http://evil.example/token"}`), iss, true)
	f.Add([]byte(`{"issuer":"https://other.example","token_endpoint":"https://as.example/token"}`), iss, false)
	f.Add([]byte(`{"issuer":"https://as.example","token_endpoint":"https://as.example/t#f"}`), iss, false)
	f.Add([]byte(`{"issuer":"https://as.example","token_endpoint":["https://as.example/t"]}`), iss, false)
	f.Add([]byte(`{"issuer":null}`), iss, false)
	f.Add([]byte(`[]`), iss, false)
	f.Add([]byte(`{"issuer":"https://as.example"}{}`), iss, false)
	f.Fuzz(func(t *testing.T, body []byte, issuer string, insecure bool) {
		ep, err := oauthclient.ParseMetadata(body, issuer, oauthclient.TokenEndpoint, insecure)
		if err != nil {
			if !errors.Is(err, oauthclient.ErrDiscovery) {
				t.Fatalf("err %v does not match ErrDiscovery", err)
			}
			return
		}
		if oauthclient.CheckEndpoint(ep, insecure) != nil {
			t.Fatalf("accepted endpoint %q", ep)
		}
		// Member names are exact (a map, not a struct's case-insensitive
		// match): "ISSUER" is not the issuer.
		var doc map[string]any
		if json.Unmarshal(body, &doc) != nil || doc["issuer"] != issuer {
			t.Fatalf("accepted a document for issuer %v, configured %q", doc["issuer"], issuer)
		}
	})
}

// FuzzParsePrivateKey: a key file is operator input, but a wrong file
// (a certificate, a public key, junk) must be an error, never a panic or
// a key that cannot sign an assertion.
func FuzzParsePrivateKey(f *testing.F) {
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pemOf("PRIVATE KEY", der))
	}
	f.Add(pemOf("EC PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x01}))
	f.Add(pemOf("RSA PRIVATE KEY", []byte{0x30, 0x00}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := oauthclient.ParsePrivateKey(b)
		if err != nil {
			if k != nil || !errors.Is(err, oauthclient.ErrInvalidConfig) {
				t.Fatalf("%v %v", k, err)
			}
			return
		}
		if _, err := oauthclient.SigningAlg(k); err != nil {
			t.Fatalf("accepted a key that cannot sign: %v", err)
		}
	})
}
