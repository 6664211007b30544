package cache

import (
	"errors"
	"fmt"
)

// ErrKeysUnavailable means the cache has no key set it may serve: none was
// ever loaded, or the last good one is stale beyond MaxStale. It is an
// infrastructure condition (HTTP 503), never the client's fault, and is
// distinct from jwkset.ErrKeyNotFound (an unknown kid, HTTP 401).
//
// Besides errors.Is, it is recognised by its KeysUnavailable method, so a
// consumer (the middleware) can tell it apart without importing this
// package: errors.As(err, &x) with x an interface{ KeysUnavailable() bool }.
var ErrKeysUnavailable error = keysUnavailable{}

type keysUnavailable struct{}

func (keysUnavailable) Error() string { return "cache: keys unavailable" }

// KeysUnavailable marks the error as "no keys to judge the token with".
func (keysUnavailable) KeysUnavailable() bool { return true }

var (
	// ErrReadOnly is returned (wrapped) by the write half of jwkset.Storage:
	// the cache's content comes only from its provider.
	ErrReadOnly = errors.New("cache: storage is read-only")

	// ErrInvalidConfig wraps every validation failure reported by New and NewMulti.
	ErrInvalidConfig = errors.New("cache: invalid config")

	// ErrInsecureURL means a URL (configured, discovered or a redirect
	// target) is not https and not a loopback address, and
	// Config.AllowInsecureHTTP is false; or a redirect went from https to http.
	ErrInsecureURL = errors.New("cache: insecure url")

	// ErrTooManyRedirects means the provider redirected more than 3 times.
	ErrTooManyRedirects = errors.New("cache: too many redirects")

	// ErrBodyTooLarge means a response body exceeded Config.MaxBodyBytes.
	ErrBodyTooLarge = errors.New("cache: response body too large")

	// ErrInvalidJWKS means a response is not a JSON Web Key Set.
	ErrInvalidJWKS = errors.New("cache: invalid jwk set")

	// ErrNoUsableKeys means a JWK Set parsed but none of its keys can verify
	// signatures. Such a set never replaces a good one.
	ErrNoUsableKeys = errors.New("cache: jwk set has no usable key")

	// ErrTooManyKeys means a JWK Set holds more keys than Config.MaxKeys.
	ErrTooManyKeys = errors.New("cache: jwk set has too many keys")

	// ErrIssuerMismatch means an OpenID provider's discovery document names
	// an issuer other than the configured one (OpenID Connect Discovery §4.3).
	ErrIssuerMismatch = errors.New("cache: discovery issuer mismatch")

	// ErrInvalidDiscovery means a discovery document is malformed or lacks jwks_uri.
	ErrInvalidDiscovery = errors.New("cache: invalid discovery document")

	// ErrBreakerOpen means a fetch was not attempted because the circuit
	// breaker is open (or half-open and already probing).
	ErrBreakerOpen = errors.New("cache: circuit breaker open")

	// ErrClosed is returned by operations on a closed cache that need the network.
	ErrClosed = errors.New("cache: closed")
)

// FetchError describes a failed HTTP exchange with the provider. Use
// errors.As to get it; it unwraps to the underlying cause (a sentinel of this
// package, a net/http error, or a context error).
type FetchError struct {
	// URL is the URL that was requested (a JWKS or discovery URL).
	URL string
	// StatusCode is the HTTP status of the response, 0 if none was received.
	StatusCode int
	// Err is the cause.
	Err error
}

func (e *FetchError) Error() string {
	if e.StatusCode != 0 && e.Err == nil {
		return fmt.Sprintf("cache: fetch %s: unexpected status %d", e.URL, e.StatusCode)
	}
	if e.StatusCode != 0 {
		return fmt.Sprintf("cache: fetch %s: status %d: %v", e.URL, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("cache: fetch %s: %v", e.URL, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }
