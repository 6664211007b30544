package oauthclient_test

import (
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
