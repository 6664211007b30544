// Package routepath is how jwtgate picks a route by a request path that a
// proxy forwarded (Envoy's ext_authz Check, the gateway's decision mode):
// by the path's clean form, never as sent, and never by a guess when two
// readings of the path disagree. Both callers use it so that a path one of
// them refuses is never one the other lets through.
package routepath

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

var (
	// ErrMalformed is a path no route can be judged by: not origin-form,
	// a bad percent escape, a control byte.
	ErrMalformed = errors.New("routepath: malformed request path")
	// ErrAmbiguous is a path that means different routes depending on how
	// %2F or a backslash is read.
	ErrAmbiguous = errors.New("routepath: path means different routes depending on how %2F or a backslash is read")
)

// SplitTarget splits a request target (path and query, never decoded) at
// the query; a fragment, which no client should send, goes too.
func SplitTarget(target string) (p, query string) {
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target = target[:i]
	}
	p, query, _ = strings.Cut(target, "?")
	return p, query
}

// Clean returns the path the route is chosen by: percent-decoded once,
// backslashes read as slashes, then path.Clean ("/public/../admin",
// "/public/%2e%2e/admin" and "//admin" are all "/admin"), keeping a
// trailing slash so that "/api/" is under a route "/api/" as the gateway's
// own routing has it. It also returns
// the same path with encoded slashes and backslashes kept as they are, the
// reading of an upstream that does not decode %2F: when the two pick
// different routes, the caller refuses the request (see Pick) rather than
// guess which one the upstream will serve.
func Clean(p string) (decoded, literal string, err error) {
	if p == "" {
		p = "/"
	}
	if p[0] != '/' {
		// "*" or an absolute URI: no route to judge it by.
		return "", "", ErrMalformed
	}
	if plain(p) {
		// Nothing to decode and no backslash: both readings are the
		// path cleaned, without allocating when it is clean already
		// (every request on a proxy route comes through here).
		c := cleanSlash(p)
		return c, c, nil
	}
	var full, keep strings.Builder
	full.Grow(len(p))
	keep.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", "", ErrMalformed
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
			return "", "", ErrMalformed
		}
		full.WriteByte(c)
		keep.WriteByte(c)
	}
	return cleanSlash(full.String()), cleanSlash(keep.String()), nil
}

// plain reports whether p has no percent escape, backslash or control
// byte.
func plain(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '%' || c == '\\' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// cleanSlash is path.Clean keeping a trailing slash.
func cleanSlash(p string) string {
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		if len(p) == len(c)+1 && strings.HasPrefix(p, c) {
			return p // clean already: no concatenation
		}
		c += "/"
	}
	return c
}

// Pick cleans the escaped path p (Clean) and returns its decoded clean
// form with the route pick chooses for it. When the literal reading picks
// a different route, it returns the decoded reading's route with
// ErrAmbiguous, so the caller can still answer with that route's
// settings. R is compared with ==: pointers to routes, typically.
func Pick[R comparable](p string, pick func(clean string) R) (clean string, r R, err error) {
	decoded, literal, err := Clean(p)
	if err != nil {
		return "", r, err
	}
	r = pick(decoded)
	if literal != decoded && pick(literal) != r {
		return decoded, r, ErrAmbiguous
	}
	return decoded, r, nil
}

// Match reports whether prefix covers p: p itself, or p below it ("/admin"
// covers "/admin/x" but not "/administrator"; "/admin/" covers what is
// under it).
func Match(prefix, p string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || strings.HasSuffix(prefix, "/") || p[len(prefix)] == '/'
}

// CheckPrefix refuses a route prefix that no clean path could match.
func CheckPrefix(prefix string) error {
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
