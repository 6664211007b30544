package gateway

// Route choice, in one place: every request the gateway serves (proxied,
// decided, or refused) is matched here, on the clean path routepath
// computes, by the longest prefix.

import (
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/jwtgate/jwtgate/internal/routepath"
)

// proxy picks the route with the longest prefix covering the request's
// path, by the one path rule every mode shares (internal/routepath, as
// decision mode and ext_authz use it): the path decoded once, backslashes
// read as slashes, cleaned. A proxy route forwards the path as sent, so it
// is refused (400) unless it is exactly its own clean form: an unclean
// path ("/public/../admin"), a backslash ("/public/..%5Cadmin", which IIS
// reads as /admin), a control byte, a bad escape, or a path whose encoded
// slashes would pick another route (ambiguous) could match one route's
// prefix and mean another route's path to the upstream.
func (gen *generation) proxy(w http.ResponseWriter, r *http.Request) {
	clean, rt, err := routepath.Pick(r.URL.EscapedPath(), gen.match)
	if err == nil && rt != nil && rt.Mode == ModeDecision {
		// A decision forwards no path anywhere: a sub-request whose
		// clean path is under a decision route is decided there.
		gen.decide(w, r, rt)
		return
	}
	switch {
	case errors.Is(err, routepath.ErrAmbiguous):
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "path means different routes depending on how %2F or a backslash is read")
	case err != nil || clean != r.URL.Path:
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "path is not clean")
	case rt == nil:
		writeJSONError(w, http.StatusNotFound, "not_found", "no route")
	default:
		rt.handler.ServeHTTP(w, r)
	}
}

// match returns the route with the longest prefix covering the clean path
// p, or nil.
func (gen *generation) match(p string) *route {
	for _, rt := range gen.routes {
		if prefixMatches(rt.Prefix, p) {
			return rt
		}
	}
	return nil
}

// prefixMatches reports whether p is under prefix, on a segment boundary:
// the rule extauthz and the decision mode match by too.
func prefixMatches(prefix, p string) bool { return routepath.Match(prefix, p) }

// cleanPath is path.Clean keeping a trailing slash.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
