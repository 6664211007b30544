package internaltoken

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Where the gateway publishes (PublishHandler's paths under Issuer).
const (
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// jwksMaxAge is the JWK Set's Cache-Control max-age: short, so a new key
// reaches verifiers soon; jwtgate's own cache also refreshes at once on
// an unknown kid.
const jwksMaxAge = 60

// JWKSHandler serves the key ring's public keys as a JWK Set: every key
// in a file, and every retired key while a token it signed may be valid.
func (k *KeyRing) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := k.current().jwks
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(jwksMaxAge))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// DiscoveryHandler serves a discovery document for issuer whose jwks_uri
// is issuer + JWKSPath, so that a service behind the gateway verifies its
// tokens with cache.Config{Issuer: issuer}.
func (k *KeyRing) DiscoveryHandler(issuer string) http.Handler {
	jwksURI := strings.TrimSuffix(issuer, "/") + JWKSPath
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc := map[string]any{
			"issuer":                                issuer,
			"jwks_uri":                              jwksURI,
			"id_token_signing_alg_values_supported": k.current().algs,
			"response_types_supported":              []string{"token"},
			"subject_types_supported":               []string{"public"},
		}
		body, _ := json.Marshal(doc) // strings and string slices only
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(body)
	})
}
