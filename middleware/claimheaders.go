package middleware

import (
	"net/http"

	"github.com/jwtgate/jwtgate/internal/headername"
)

// forwardClaims sets the configured claim headers, after deleting whatever
// the client sent under those names or names an upstream reads as the same:
// any letter case (a key Go did not canonicalize is still the same header
// on the wire) and '_' for '-' (CGI, WSGI, Rack and PHP turn both into
// HTTP_X_USER).
func (v *Verifier) forwardClaims(r *http.Request, c *Claims) {
	v.stripClaimHeaders(r)
	for name, header := range v.claimHeaders() {
		if s, ok := c.String(name); ok && headername.ValidValue(s) {
			r.Header.Set(header, s)
		}
	}
}

// claimHeaders is the claim → header map in force: the route's, or else
// the Verifier's.
func (v *Verifier) claimHeaders() map[string]string {
	if v.route.ClaimHeaders != nil {
		return v.route.ClaimHeaders
	}
	return v.cfg.ClaimHeaders
}

// stripClaimHeaders deletes every header the client sent that an upstream
// could take for a claim header (see forwardClaims).
func (v *Verifier) stripClaimHeaders(r *http.Request) {
	for sent := range r.Header {
		for _, header := range v.claimHeaders() {
			if headername.Same(sent, header) {
				delete(r.Header, sent)
				break
			}
		}
	}
}
