package oauthclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Metadata members naming the endpoints a client discovers.
const (
	TokenEndpoint         = "token_endpoint"
	IntrospectionEndpoint = "introspection_endpoint"
)

// The two well-known documents (RFC 8414 §3; OpenID Connect Discovery 1.0
// §4).
const (
	WellKnownOAuth  = "/.well-known/oauth-authorization-server"
	WellKnownOpenID = "/.well-known/openid-configuration"
)

// DefaultMaxMetadataBytes bounds a metadata document.
const DefaultMaxMetadataBytes = 64 << 10

// WellKnownURLs are the metadata documents of issuer, in the order
// Discover tries them: RFC 8414's (its well-known path inserted between
// the host and the issuer's path, §3.1), OpenID Connect's (appended to
// the issuer), and, for an issuer with a path, RFC 8414's appended the
// OpenID way, where servers written before RFC 8414 serve it (§5).
func WellKnownURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	origin := u.Scheme + "://" + u.Host
	out := []string{origin + WellKnownOAuth + path, origin + path + WellKnownOpenID}
	if path != "" {
		out = append(out, origin+path+WellKnownOAuth)
	}
	return out
}

// ParseMetadata reads the endpoint named member (TokenEndpoint,
// IntrospectionEndpoint) from a metadata document: one JSON object whose
// issuer is issuer exactly (RFC 8414 §3.3: a document for another issuer
// is an attack or a mistake, and its endpoints are not used; the error is
// an *IssuerMismatchError) and whose endpoint passes CheckEndpoint. Every
// error matches ErrDiscovery.
func ParseMetadata(body []byte, issuer, member string, allowInsecureHTTP bool) (string, error) {
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return "", &discoveryError{msg: "metadata is not a JSON object", err: err}
	}
	if dec.More() {
		return "", &discoveryError{msg: "data after the metadata's JSON object"}
	}
	var iss, ep string
	if raw, ok := doc["issuer"]; !ok || json.Unmarshal(raw, &iss) != nil {
		return "", &discoveryError{msg: "metadata has no issuer string"}
	}
	if iss != issuer {
		return "", &IssuerMismatchError{Want: issuer, Got: truncate(iss)}
	}
	if raw, ok := doc[member]; !ok || json.Unmarshal(raw, &ep) != nil || ep == "" {
		return "", &discoveryError{msg: fmt.Sprintf("metadata has no %s", truncate(member))}
	}
	if err := CheckEndpoint(ep, allowInsecureHTTP); err != nil {
		return "", &discoveryError{msg: member, err: err}
	}
	return ep, nil
}

// DiscoveryConfig configures a Discoverer.
type DiscoveryConfig struct {
	// Issuer is the authorization server's issuer identifier (CheckIssuer).
	// Required.
	Issuer string
	// Member names the endpoint wanted (TokenEndpoint,
	// IntrospectionEndpoint). Required.
	Member string
	// Client fetches the documents. nil means a client with a 10s time-out
	// that follows no redirect.
	Client *http.Client
	// AllowInsecureHTTP allows plain http on a host that is not loopback,
	// for the issuer and the endpoint. false means https only.
	AllowInsecureHTTP bool
	// MaxBytes bounds a document. 0 means DefaultMaxMetadataBytes.
	MaxBytes int64
	// RetryAfter is how long a failed discovery is answered with its error
	// without a new fetch, so that a server that is down is not asked once
	// per request. 0 means the next call fetches again.
	RetryAfter time.Duration
	// Now is the clock of RetryAfter. nil means time.Now.
	Now func() time.Time
}

// Discoverer finds one endpoint of an issuer by discovery, once: the first
// success is kept for its life, concurrent calls share one fetch, and a
// failure is kept RetryAfter. Create it with NewDiscoverer (the zero value
// is not usable); safe for concurrent use. It starts no goroutine: a fetch runs in the call that
// starts it, under that call's context, so pass a context of the owner's
// life (exchange's and introspect's calls run under their own), not a
// request's: a caller that only waits leaves on its context without
// ending the fetch for the others.
type Discoverer struct {
	cfg DiscoveryConfig

	mu      sync.Mutex // guards the fields below
	found   string     // "" until discovered
	running *fetchRun  // nil when no fetch runs
	err     error      // the last failure, until retryAt
	retryAt time.Time
}

type fetchRun struct {
	done chan struct{}
	ep   string
	err  error
}

// NewDiscoverer checks cfg. Errors match ErrInvalidConfig.
func NewDiscoverer(cfg DiscoveryConfig) (*Discoverer, error) {
	if err := CheckIssuer(cfg.Issuer, cfg.AllowInsecureHTTP); err != nil {
		return nil, err
	}
	if cfg.Member == "" {
		return nil, configErr("discovery: no metadata member")
	}
	if cfg.RetryAfter < 0 || cfg.MaxBytes < 0 {
		return nil, configErr("discovery: negative RetryAfter or MaxBytes")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxMetadataBytes
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirect}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Discoverer{cfg: cfg}, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Found returns the endpoint once discovered.
func (d *Discoverer) Found() (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.found, d.found != ""
}

// Endpoint returns the discovered endpoint, fetching the metadata when it
// is not known yet. A caller that finds a fetch running waits for it (or
// for its own ctx) and shares its answer. Errors match ErrDiscovery.
func (d *Discoverer) Endpoint(ctx context.Context) (string, error) {
	d.mu.Lock()
	switch {
	case d.found != "":
		ep := d.found
		d.mu.Unlock()
		return ep, nil
	case d.running != nil:
		r := d.running
		d.mu.Unlock()
		select {
		case <-r.done:
			return r.ep, r.err
		case <-ctx.Done():
			return "", &discoveryError{msg: "waiting", err: context.Cause(ctx)}
		}
	case d.err != nil && d.cfg.Now().Before(d.retryAt):
		err := d.err
		d.mu.Unlock()
		return "", err
	}
	r := &fetchRun{done: make(chan struct{})}
	d.running = r
	d.mu.Unlock()

	r.ep, r.err = d.discover(ctx)

	d.mu.Lock()
	d.running = nil
	if r.err == nil {
		d.found, d.err = r.ep, nil
	} else {
		d.err, d.retryAt = r.err, d.cfg.Now().Add(d.cfg.RetryAfter)
	}
	d.mu.Unlock()
	close(r.done)
	return r.ep, r.err
}

// discover tries the well-known documents in turn. A document that is
// missing or unusable sends it to the next; an issuer mismatch, a
// transport failure (every document has the same origin) or ctx ending
// stops it.
func (d *Discoverer) discover(ctx context.Context) (string, error) {
	var last error
	for _, u := range WellKnownURLs(d.cfg.Issuer) {
		ep, err := d.fetch(ctx, u)
		if err == nil {
			return ep, nil
		}
		var mm *IssuerMismatchError
		var te *transportError
		if errors.As(err, &mm) || errors.As(err, &te) || ctx.Err() != nil {
			return "", err
		}
		last = err
	}
	return "", last
}

// transportError marks a fetch that got no answer.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (d *Discoverer) fetch(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", &discoveryError{msg: u, err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return "", &discoveryError{msg: "fetching metadata", err: &transportError{stripURL(err)}}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", &discoveryError{msg: fmt.Sprintf("%s answered %d", u, resp.StatusCode)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, d.cfg.MaxBytes+1))
	if err != nil {
		return "", &discoveryError{msg: "reading " + u, err: &transportError{err}}
	}
	if int64(len(body)) > d.cfg.MaxBytes {
		return "", &discoveryError{msg: fmt.Sprintf("%s is larger than %d bytes", u, d.cfg.MaxBytes)}
	}
	ep, err := ParseMetadata(body, d.cfg.Issuer, d.cfg.Member, d.cfg.AllowInsecureHTTP)
	var mm *IssuerMismatchError
	if errors.As(err, &mm) {
		mm.Document = u
	}
	return ep, err
}

// stripURL drops a *url.Error's URL and keeps its cause: the errors are
// one shape whatever document was asked.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
