package cache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// discoveryPath is appended to the issuer (OpenID Connect Discovery §4).
const discoveryPath = "/.well-known/openid-configuration"

// resolveURL returns the JWKS URL: the configured one, or the discovered
// one, re-running discovery when the document's TTL has passed. If
// re-discovery fails, the last discovered URL keeps being used.
func (c *Cache) resolveURL(probe bool) (string, error) {
	if c.cfg.URL != "" {
		return c.cfg.URL, nil
	}
	if c.cfg.File != "" {
		return fileURL(c.cfg.File), nil
	}
	now := c.cfg.now()
	c.mu.Lock()
	known, exp := c.jwksURL, c.discoveryExpires
	c.mu.Unlock()
	if known != "" && now.Before(exp) {
		return known, nil
	}
	docURL := strings.TrimSuffix(c.cfg.Issuer, "/") + discoveryPath
	r, err := c.execute(probe, func() (*response, error) {
		r, err := c.get(c.ctx, FetchDiscovery, docURL, "", "")
		if err != nil {
			return nil, err
		}
		if r.jwksURI, err = parseDiscovery(r.body, c.cfg.Issuer, c.cfg.AllowInsecureHTTP); err != nil {
			return nil, &FetchError{URL: docURL, StatusCode: 200, Err: err}
		}
		return r, nil
	})
	if err != nil {
		if known != "" {
			c.log.Warn("cache: discovery refresh failed; keeping the known jwks_uri", slog.Any("error", err))
			return known, nil
		}
		return "", err
	}
	c.mu.Lock()
	c.jwksURL, c.discoveryExpires = r.jwksURI, now.Add(r.ttl)
	c.mu.Unlock()
	if r.jwksURI != known {
		c.log.Info("cache: discovered jwks_uri", slog.String("jwks_uri", r.jwksURI))
	}
	return r.jwksURI, nil
}

// parseDiscovery extracts jwks_uri from an OpenID Provider Configuration
// document, requiring its issuer to equal the configured one exactly
// (OpenID Connect Discovery §4.3) and jwks_uri to be a URL the cache may fetch.
func parseDiscovery(body []byte, issuer string, allowInsecure bool) (string, error) {
	var doc struct {
		Issuer  *string `json:"issuer"`
		JWKSURI *string `json:"jwks_uri"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidDiscovery, err)
	}
	if dec.More() {
		return "", fmt.Errorf("%w: trailing data after the json object", ErrInvalidDiscovery)
	}
	if doc.Issuer == nil {
		return "", fmt.Errorf("%w: no issuer", ErrInvalidDiscovery)
	}
	if *doc.Issuer != issuer {
		return "", fmt.Errorf("%w: document says %q, configured %q", ErrIssuerMismatch, truncate(*doc.Issuer), issuer)
	}
	if doc.JWKSURI == nil || *doc.JWKSURI == "" {
		return "", fmt.Errorf("%w: no jwks_uri", ErrInvalidDiscovery)
	}
	if err := checkURL(*doc.JWKSURI, allowInsecure); err != nil {
		return "", fmt.Errorf("%w: jwks_uri: %w", ErrInvalidDiscovery, err)
	}
	return *doc.JWKSURI, nil
}
