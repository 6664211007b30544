package extauthz

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/jwtgate/jwtgate/middleware"
)

var (
	errPath          = fmt.Errorf("extauthz: malformed request path: %w", middleware.ErrInvalidRequest)
	errAmbiguousPath = fmt.Errorf("extauthz: path means different routes depending on how %%2F or a backslash is read: %w", middleware.ErrInvalidRequest)
)

// splitTarget splits Envoy's request target (path and query, never
// decoded) at the query; a fragment, which no client should send, goes too.
func splitTarget(target string) (p, query string) {
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target = target[:i]
	}
	p, query, _ = strings.Cut(target, "?")
	return p, query
}

// cleanPaths returns the path the route is chosen by: percent-decoded once,
// backslashes read as slashes, then path.Clean ("/public/../admin",
// "/public/%2e%2e/admin" and "//admin" are all "/admin"). It also returns
// the same path with encoded slashes and backslashes kept as they are, the
// reading of an upstream that does not decode %2F: when the two pick
// different routes, the caller refuses the request rather than guess which
// one the upstream will serve.
func cleanPaths(p string) (decoded, literal string, err error) {
	if p == "" {
		p = "/"
	}
	if p[0] != '/' {
		// "*" or an absolute URI: no route to judge it by.
		return "", "", errPath
	}
	var full, keep strings.Builder
	full.Grow(len(p))
	keep.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", "", errPath
			}
			c = unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
			if c == '/' || c == '\\' {
				full.WriteByte('/')
				keep.WriteString(strings.ToUpper(p[i-2 : i+1]))
				continue
			}
		} else if c == '\\' {
			full.WriteByte('/')
			keep.WriteByte(c)
			continue
		}
		if c < 0x20 || c == 0x7f {
			// A NUL or a line break in a path is an attack on whatever
			// parses it next, never a resource.
			return "", "", errPath
		}
		full.WriteByte(c)
		keep.WriteByte(c)
	}
	return path.Clean(full.String()), path.Clean(keep.String()), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// route is one Routes entry with its derived Verifier.
type route struct {
	prefix string
	v      *middleware.Verifier
}

// match reports whether prefix covers p: p itself, or p below it ("/admin"
// covers "/admin/x" but not "/administrator"; "/admin/" covers what is
// under it).
func match(prefix, p string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || strings.HasSuffix(prefix, "/") || p[len(prefix)] == '/'
}

// checkPrefix refuses a Routes key that no clean path could match.
func checkPrefix(prefix string) error {
	if !strings.HasPrefix(prefix, "/") {
		return errors.New("does not start with /")
	}
	c := path.Clean(prefix)
	if c != prefix && c+"/" != prefix {
		return fmt.Errorf("is not clean (%q): requests are matched on the clean path", c)
	}
	if strings.ContainsAny(prefix, "%\\?#") {
		return errors.New("has %, \\, ? or #: requests are matched on the decoded path without query")
	}
	return nil
}
