package introspect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// wellKnown are the metadata documents tried, in order: RFC 8414's, then
// OpenID Connect Discovery's.
var wellKnown = []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}

// discover finds the issuer's introspection_endpoint. The document's
// issuer must be the configured one (RFC 8414 §3.3), and the endpoint must
// pass the same URL rules as a configured one.
func (c *Client) discover(ctx context.Context) (string, error) {
	var last error
	for _, p := range wellKnown {
		ep, err := c.fetchMetadata(ctx, strings.TrimSuffix(c.cfg.Issuer, "/")+p)
		if err == nil {
			return ep, nil
		}
		last = err
	}
	return "", unavailable{fmt.Errorf("introspect: discovery: %w", last)}
}

func (c *Client) fetchMetadata(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %d", u, resp.StatusCode)
	}
	var doc struct {
		Issuer   string `json:"issuer"`
		Endpoint string `json:"introspection_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes)).Decode(&doc); err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	if doc.Issuer != c.cfg.Issuer {
		return "", fmt.Errorf("%s names issuer %q, not %q", u, doc.Issuer, c.cfg.Issuer)
	}
	if doc.Endpoint == "" {
		return "", fmt.Errorf("%s has no introspection_endpoint", u)
	}
	if err := checkURL("introspection_endpoint", doc.Endpoint); err != nil {
		return "", err
	}
	return doc.Endpoint, nil
}
