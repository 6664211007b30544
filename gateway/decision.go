package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/internal/routepath"
	"github.com/jwtgate/jwtgate/middleware"
)

var (
	errOriginalPath      = fmt.Errorf("gateway: malformed original request path: %w", middleware.ErrInvalidRequest)
	errAmbiguousOriginal = fmt.Errorf("gateway: original path means different routes depending on how %%2F or a backslash is read: %w", middleware.ErrInvalidRequest)
	errOriginalRequest   = fmt.Errorf("gateway: a trusted proxy's description of the original request is unusable: %w", middleware.ErrInvalidRequest)
)

// decide answers a sub-request that arrived under the decision route at,
// about the original request it describes (see Route.Mode): the original
// is judged by the route its clean path picks, exactly as a request
// proxied there would be, and the answer is 200 with every claim header of
// that route, or the Verifier's rejection written by its one error
// writer. The sub-request's body is never read: a proxy may send the
// client's, and a decision does not depend on it.
//
// The original is forwarded.Resolver.Original: a trusted proxy's
// X-Forwarded-Uri/-Method or X-Original-URI/-Method, or the sub-request
// itself when there are none. A description that is present but unusable,
// or two that disagree, is a 400: never a fallback to the sub-request's own
// path, which is under this decision route and has none of the original's
// requirements.
func (gen *generation) decide(w http.ResponseWriter, r *http.Request, at *route) {
	view, err := gen.fw.Original(r)
	if err != nil {
		at.v.WriteError(w, r, fmt.Errorf("%w: %w", errOriginalRequest, err))
		return
	}
	target := view.URI
	if at.StripPrefix {
		if rest, ok := afterPrefix(ownTarget(r), at.Prefix); ok {
			// Envoy's HTTP ext_authz appends the original path to its
			// path_prefix: there, that is the original, whatever else
			// the request carries (a trusted proxy's unusable header
			// has still been refused above: nothing is guessed).
			target = rest
		}
	}
	p, query := routepath.SplitTarget(target)
	clean, rt, err := routepath.Pick(p, gen.match)
	if err != nil {
		v := at.v
		if rt != nil {
			v = rt.v
		}
		if errors.Is(err, routepath.ErrAmbiguous) {
			err = errAmbiguousOriginal
		} else {
			err = errOriginalPath
		}
		v.WriteError(w, r, err)
		return
	}
	if rt == nil {
		// nginx turns this into a 500 for the client: failing closed.
		writeJSONError(w, http.StatusNotFound, "not_found", "no route for the original path")
		return
	}

	// The original request as the Verifier sees it: its method, clean path
	// and query (an access_token in the original query is judged as
	// proxying would judge it), and a copy of the headers, which the
	// Verifier overwrites with the verified claim headers.
	//
	// The Verifier reads the original's view (DPoP's htm and htu) from
	// the context: the sub-request's own method and path are not the
	// request the proof was made for.
	view.URI, view.Path = target, p
	if view.Path == "" {
		view.Path = "/"
	}
	o := r.Clone(forwarded.NewContext(r.Context(), view))
	o.Method = view.Method
	o.URL.Path, o.URL.RawPath, o.URL.RawQuery = clean, "", query
	o.RequestURI = target
	o.Body, o.GetBody, o.ContentLength = http.NoBody, nil, 0
	if _, err := rt.v.Authenticate(w, o); err != nil {
		rt.v.WriteError(w, o, err)
		return
	}
	h := w.Header()
	for _, name := range rt.claims {
		// Every claim header, even one the token lacks (empty): a proxy
		// that copies the answer's headers onto the upstream request
		// then overwrites the client's own copy instead of passing it on.
		if vs := o.Header.Values(name); len(vs) > 0 {
			h[name] = slices.Clone(vs)
		} else {
			h[name] = []string{""}
		}
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// ownTarget is the request's own target, escaped as sent.
func ownTarget(r *http.Request) string {
	if t := r.RequestURI; t != "" && t[0] == '/' {
		return t
	}
	return r.URL.RequestURI()
}

// afterPrefix returns what follows prefix in the escaped target, query
// included, when a path does: "/_jwtgate/admin?x=1" under "/_jwtgate" is
// "/admin?x=1", and "/_jwtgate/" is "/". The prefix alone is not (the
// original is then in the headers).
func afterPrefix(target, prefix string) (string, bool) {
	p, query := routepath.SplitTarget(target)
	base := strings.TrimSuffix(prefix, "/")
	if len(p) <= len(prefix) || !strings.HasPrefix(p, base) || p[len(base)] != '/' {
		return "", false
	}
	rest := p[len(base):]
	if query != "" {
		rest += "?" + query
	}
	return rest, true
}
