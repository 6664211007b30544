package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRedirects is the most redirects a fetch follows.
const maxRedirects = 3

// errUnexpectedStatus is the cause in a *FetchError whose StatusCode is not
// 200 (or an expected 304); the code itself is in the FetchError.
var errUnexpectedStatus = errors.New("unexpected status")

// response is what a successful HTTP exchange yields.
type response struct {
	notModified  bool
	body         []byte
	etag         string
	lastModified string
	ttl          time.Duration // clamped
	set          *parsedSet    // the parsed JWK Set (JWKS fetches with a body)
	jwksURI      string        // the discovered jwks_uri (discovery fetches)
}

// httpClient returns a shallow copy of base whose redirect policy enforces
// the cache's rules before base's own. With base nil, the client gets a
// transport of its own (a clone of http.DefaultTransport), returned as
// owned so that Close can drop its idle connections.
func httpClient(base *http.Client, allowInsecure bool) (_ *http.Client, owned *http.Transport) {
	var c http.Client
	if base != nil {
		c = *base
	} else if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		owned = dt.Clone()
		c.Transport = owned
	}
	user := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
		}
		if prev := via[len(via)-1]; prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirect from https to %s", ErrInsecureURL, req.URL.Scheme)
		}
		if err := checkURL(req.URL.String(), allowInsecure); err != nil {
			return err
		}
		if user != nil {
			return user(req, via)
		}
		return nil
	}
	return &c, owned
}

// get performs one GET under the breaker's accounting (the caller runs it
// inside the breaker), reports it to OnFetch, and returns the body or a
// *FetchError. etag and lastModified make the request conditional.
func (c *Cache) get(ctx context.Context, kind FetchKind, rawURL, etag, lastModified string) (*response, error) {
	start := c.cfg.now()
	status, n := 0, 0
	resp, err := c.doGet(ctx, rawURL, etag, lastModified, &status, &n)
	if err != nil {
		err = &FetchError{URL: rawURL, StatusCode: status, Err: err}
	}
	if h := c.cfg.Observer.OnFetch; h != nil {
		h(FetchEvent{Provider: c.cfg.Name, Kind: kind, URL: rawURL, Status: status, Bytes: n,
			Duration: c.cfg.now().Sub(start), Err: err, Waiters: c.waiters()})
	}
	return resp, err
}

func (c *Cache) doGet(ctx context.Context, rawURL, etag, lastModified string, status, n *int) (*response, error) {
	if c.cfg.File != "" {
		return c.readJWKSFile(etag, status, n)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", "jwtgate-cache")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	*status = resp.StatusCode
	now := c.cfg.now()
	out := &response{
		etag:         resp.Header.Get("ETag"),
		lastModified: resp.Header.Get("Last-Modified"),
		ttl: ttlFromHeaders(resp.Header, now, c.cfg.DefaultTTL,
			c.cfg.MinRefreshInterval, c.cfg.MaxRefreshInterval),
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && (etag != "" || lastModified != ""):
		out.notModified = true
		return out, nil
	case resp.StatusCode != http.StatusOK:
		// Drain a little so the connection can be reused; the rest is dropped.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, errUnexpectedStatus
	}
	limit := c.cfg.MaxBodyBytes
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: content-length %d exceeds %d bytes", ErrBodyTooLarge, resp.ContentLength, limit)
	}
	// Read one byte more than allowed to tell "exactly at the limit" from "over it".
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	*n = len(body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: exceeds %d bytes", ErrBodyTooLarge, limit)
	}
	out.body = body
	return out, nil
}

// ttlFromHeaders derives a key set's lifetime from Cache-Control max-age
// (minus Age), else Expires (relative to Date when present), else def; the
// result is clamped to [lo, hi]. no-store and no-cache mean "refresh as soon
// as allowed", i.e. lo.
func ttlFromHeaders(h http.Header, now time.Time, def, lo, hi time.Duration) time.Duration {
	ttl, found := def, false
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return lo
			case "max-age":
				secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || secs < 0 {
					continue
				}
				if secs > int64(hi/time.Second) {
					secs = int64(hi / time.Second)
				}
				ttl, found = time.Duration(secs)*time.Second, true
			}
		}
	}
	if found {
		if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
			ttl -= time.Duration(min(age, int64(hi/time.Second))) * time.Second
		}
	} else if exp := h.Get("Expires"); exp != "" {
		t, err := http.ParseTime(exp)
		if err != nil {
			ttl = 0 // RFC 9111 §5.3: an invalid Expires means already expired
		} else {
			base := now
			if d, err := http.ParseTime(h.Get("Date")); err == nil {
				base = d
			}
			ttl = t.Sub(base)
		}
	}
	return min(max(ttl, lo), hi)
}

// isLoopback reports whether host is "localhost" or a loopback IP literal.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
