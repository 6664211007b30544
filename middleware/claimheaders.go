package middleware

import "net/http"

// forwardClaims sets the configured claim headers, after deleting whatever
// the client sent under those names or names an upstream reads as the same:
// any letter case (a key Go did not canonicalize is still the same header
// on the wire) and '_' for '-' (CGI, WSGI, Rack and PHP turn both into
// HTTP_X_USER).
func (v *Verifier) forwardClaims(r *http.Request, c *Claims) {
	v.stripClaimHeaders(r)
	for name, header := range v.claimHeaders() {
		if s, ok := c.String(name); ok && validHeaderValue(s) {
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
			if sameHeaderName(sent, header) {
				delete(r.Header, sent)
				break
			}
		}
	}
}

// validHeaderValue reports whether s may be sent as a header value (RFC 9110
// §5.5: no control bytes but tab). A claim with a line break is not
// forwarded: net/http would refuse the upstream request, and a less careful
// client would split it.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// sameHeaderName compares header names ignoring case and treating '_' as '-'.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
