package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// discoveryPath is where an issuer's metadata is (OpenID Connect
// Discovery 1.0 §4; RFC 8414 servers serve it there too).
const discoveryPath = "/.well-known/openid-configuration"

// tokenEndpoint returns Config.TokenEndpoint, or the one the issuer's
// discovery document names (fetched once; concurrent first exchanges
// share the fetch). A failed fetch is ErrUnavailable and is tried again by
// the next exchange.
func (t *Transport) tokenEndpoint(ctx context.Context) (string, error) {
	if t.cfg.TokenEndpoint != "" {
		return t.cfg.TokenEndpoint, nil
	}
	t.mu.Lock()
	ep := t.endpoint
	t.mu.Unlock()
	if ep != "" {
		return ep, nil
	}
	v, err, _ := t.sf.Do("\x00discovery", func() (any, error) {
		ep, err := t.discover(ctx)
		if err != nil {
			return "", err
		}
		t.mu.Lock()
		t.endpoint = ep
		t.mu.Unlock()
		return ep, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (t *Transport) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(t.cfg.Issuer, "/") + discoveryPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", unavailable(err)
	}
	req.Header.Set("Accept", "application/json")
	r, err := t.client.Do(req)
	if err != nil {
		return "", unavailable(fmt.Errorf("discovery: %w", stripURLError(err)))
	}
	defer r.Body.Close()
	body, err := readBody(r.Body, t.cfg.MaxBodyBytes)
	if err != nil {
		return "", unavailable(fmt.Errorf("discovery: %w", err))
	}
	if r.StatusCode != http.StatusOK {
		return "", unavailable(fmt.Errorf("discovery: status %d", r.StatusCode))
	}
	return parseDiscovery(body, t.cfg.Issuer, t.cfg.AllowInsecureHTTP)
}

// parseDiscovery reads token_endpoint from a discovery document whose
// issuer must be issuer exactly (OpenID Connect Discovery §4.3: a document
// for another issuer is an attack or a mistake).
func parseDiscovery(body []byte, issuer string, allowInsecure bool) (string, error) {
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", unavailable(fmt.Errorf("discovery: %w: %w", ErrBadResponse, err))
	}
	if doc.Issuer != issuer {
		return "", unavailable(fmt.Errorf("discovery: %w: issuer %q, want %q", ErrBadResponse, truncate(doc.Issuer), issuer))
	}
	if doc.TokenEndpoint == "" {
		return "", unavailable(fmt.Errorf("discovery: %w: no token_endpoint", ErrBadResponse))
	}
	if err := checkURL(doc.TokenEndpoint, allowInsecure); err != nil {
		return "", unavailable(fmt.Errorf("discovery: %w: token_endpoint: %w", ErrBadResponse, err))
	}
	return doc.TokenEndpoint, nil
}
