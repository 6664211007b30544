package oauthclient

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidConfig is matched by every configuration error: a bad
	// URL, a method without its secret or key, a key that cannot sign an
	// assertion, an unreadable secret or key file.
	ErrInvalidConfig = errors.New("oauthclient: invalid configuration")
	// ErrDiscovery is matched by every error of Discover and ParseMetadata:
	// the authorization server's metadata could not be had or used.
	ErrDiscovery = errors.New("oauthclient: discovery failed")
	// ErrIssuerMismatch: a metadata document names another issuer than
	// the configured one (RFC 8414 §3.3; OpenID Connect Discovery §4.3).
	// It also matches ErrDiscovery; errors.As finds *IssuerMismatchError.
	ErrIssuerMismatch = errors.New("oauthclient: metadata issuer is not the configured issuer")
)

// configError is a configuration problem. Its text carries no sentinel
// prefix: callers wrap it with their own package's ErrInvalidConfig, so
// the message reads "exchange: invalid configuration: <problem>".
type configError struct{ msg string }

func (e *configError) Error() string        { return e.msg }
func (e *configError) Is(target error) bool { return target == ErrInvalidConfig }

func configErr(format string, a ...any) error {
	return &configError{msg: fmt.Sprintf(format, a...)}
}

// discoveryError is a discovery failure, text without a sentinel prefix
// for the same reason; it wraps its cause.
type discoveryError struct {
	msg string
	err error
}

func (e *discoveryError) Error() string {
	if e.err == nil {
		return "discovery: " + e.msg
	}
	return "discovery: " + e.msg + ": " + e.err.Error()
}
func (e *discoveryError) Unwrap() error        { return e.err }
func (e *discoveryError) Is(target error) bool { return target == ErrDiscovery }

// IssuerMismatchError is the typed form of ErrIssuerMismatch.
type IssuerMismatchError struct {
	// Document is the metadata URL that answered.
	Document string
	// Want is the configured issuer; Got the document's (truncated).
	Want, Got string
}

func (e *IssuerMismatchError) Error() string {
	doc := e.Document
	if doc == "" {
		doc = "metadata"
	}
	return fmt.Sprintf("discovery: %s names issuer %q, not %q", doc, e.Got, e.Want)
}

// Is makes the error match both ErrIssuerMismatch and ErrDiscovery.
func (e *IssuerMismatchError) Is(target error) bool {
	return target == ErrIssuerMismatch || target == ErrDiscovery
}

// truncate bounds server text that ends up in an error.
func truncate(s string) string {
	const n = 100
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
