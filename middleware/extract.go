package middleware

import (
	"net/http"
	"net/url"
	"strings"
)

// Extract returns the request's token from the places the Config allows:
// "Authorization: Bearer" (scheme case-insensitive, RFC 6750 §2.1), the
// cookie CookieName, the header HeaderName, the access_token query
// parameter when AllowQuery is set. Two tokens (in one place or several),
// or an access_token query parameter when AllowQuery is off, are
// ErrInvalidRequest; none is ErrTokenMissing. Lengths are checked before
// anything is copied or decoded.
func (v *Verifier) Extract(r *http.Request) (string, error) {
	t, _, err := v.extract(r)
	if err != nil {
		return "", err
	}
	return t, nil
}

// extract also reports whether the token came with the DPoP scheme (only
// read when the route's DPoP mode is allowed or required).
func (v *Verifier) extract(r *http.Request) (string, bool, *Error) {
	token, dpop, err := v.extractAny(r)
	if err == nil && !dpop && v.dpopMode == DPoPRequired {
		return "", false, errDPoPRequired
	}
	return token, dpop, err
}

func (v *Verifier) extractAny(r *http.Request) (string, bool, *Error) {
	var token string
	found := 0
	dpop := false
	if !v.cfg.DisableAuthorizationHeader {
		vals := r.Header["Authorization"]
		if len(vals) > 1 {
			return "", false, errMultiple
		}
		if len(vals) == 1 {
			t, ok, err := v.bearer(vals[0], "bearer")
			if !ok && err == nil && (v.dpopMode == DPoPAllowed || v.dpopMode == DPoPRequired) {
				t, ok, err = v.bearer(vals[0], "dpop")
				dpop = ok
			}
			if err != nil {
				return "", false, err
			}
			if ok {
				token, found = t, found+1
			}
		}
	}
	if v.cfg.HeaderName != "" {
		vals := r.Header.Values(v.cfg.HeaderName)
		if len(vals) > 1 {
			return "", false, errMultiple
		}
		if len(vals) == 1 {
			t := strings.TrimSpace(vals[0])
			if len(t) > v.cfg.MaxTokenSize {
				return "", false, errTooLarge
			}
			if t == "" {
				return "", false, errEmptyBearer
			}
			token, found = t, found+1
		}
	}
	if v.cfg.CookieName != "" && len(r.Header["Cookie"]) > 0 {
		n := 0
		for _, c := range r.CookiesNamed(v.cfg.CookieName) {
			n++
			if len(c.Value) > v.cfg.MaxTokenSize {
				return "", false, errTooLarge
			}
			if c.Value == "" {
				return "", false, errEmptyBearer
			}
			token = c.Value
		}
		if raw := cookieCount(r.Header["Cookie"], v.cfg.CookieName); raw > 1 || n > 1 {
			return "", false, errMultiple
		} else if raw != n {
			return "", false, errCookieMalformed
		}
		found += n
	}
	if q := r.URL.RawQuery; q != "" && (strings.Contains(q, "access_token") || strings.IndexByte(q, '%') >= 0) {
		at, n, err := queryToken(q, v.cfg.MaxTokenSize)
		if err != nil {
			return "", false, err
		}
		if n > 0 {
			// A protected resource (MCP) must never take a token from the
			// URI, whatever AllowQuery says.
			if !v.cfg.AllowQuery || v.resource != nil {
				return "", false, errQuery
			}
			if n > 1 {
				return "", false, errMultiple
			}
			if at == "" {
				return "", false, errEmptyBearer
			}
			token, found = at, found+1
		}
	}
	switch {
	case found == 0:
		return "", false, errMissing
	case found > 1:
		return "", false, errMultiple
	}
	return token, dpop, nil
}

// bearer parses one Authorization value with the scheme prefix ("bearer",
// or "dpop": RFC 9449 §7.1 uses the same token68 syntax). ok is false for
// another scheme (Basic, …): not ours to judge.
func (v *Verifier) bearer(h, prefix string) (string, bool, *Error) {
	if len(h) > v.cfg.MaxTokenSize+len(prefix)+16 {
		return "", false, errTooLarge
	}
	// How clients write the scheme, so that the common case is one
	// comparison instead of a case fold.
	spelled := "Bearer"
	if prefix == "dpop" {
		spelled = "DPoP"
	}
	if len(h) < len(prefix) || (h[:len(prefix)] != spelled && !strings.EqualFold(h[:len(prefix)], prefix)) {
		return "", false, nil
	}
	rest := h[len(prefix):]
	if rest == "" {
		return "", false, errEmptyBearer
	}
	if rest[0] == '\t' {
		// Not RFC 6750's syntax, but lenient upstreams split on any
		// whitespace and would read a token nobody checked.
		return "", false, errMalformedAuthz
	}
	if rest[0] != ' ' {
		return "", false, nil // e.g. "BearerX": some other scheme
	}
	// The usual single space and no trailing ones: no Trim needed.
	t := rest[1:]
	if t == "" || t[0] == ' ' || t[len(t)-1] == ' ' {
		t = strings.Trim(rest, " ")
	}
	if t == "" {
		return "", false, errEmptyBearer
	}
	if strings.IndexByte(t, ' ') >= 0 {
		return "", false, errMalformedAuthz
	}
	if len(t) > v.cfg.MaxTokenSize {
		return "", false, errTooLarge
	}
	return t, true, nil
}

var errMalformedAuthz = &Error{kind: ErrInvalidRequest, desc: "malformed Authorization header"}

var errQueryMalformed = &Error{kind: ErrInvalidRequest, desc: "malformed access_token parameter"}

// queryToken finds the access_token parameters of a raw query the way any
// upstream might read them, not only the way url.ParseQuery does: the name
// may be percent-encoded ("access%5Ftoken"), and ';' separates parameters
// too (older Python, Rails, servlet containers; ParseQuery drops such a
// segment). Otherwise a token the Verifier never saw could reach the
// upstream beside the one it checked. It returns the last value and how
// many there were; values are size-checked before they are decoded.
func queryToken(q string, maxSize int) (tok string, n int, err *Error) {
	for q != "" {
		seg := q
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			seg, q = q[:i], q[i+1:]
		} else {
			q = ""
		}
		name, val, _ := strings.Cut(seg, "=")
		if name != "access_token" {
			// Only a name of 12 to 36 bytes with an escape can decode to it.
			if len(name) < 12 || len(name) > 36 || strings.IndexByte(name, '%') < 0 {
				continue
			}
			if u, err := url.QueryUnescape(name); err != nil || u != "access_token" {
				continue
			}
		}
		n++
		if n > 1 {
			return "", n, nil // two are already too many: stop reading
		}
		if len(val) > 3*maxSize {
			return "", n, errTooLarge
		}
		if strings.IndexByte(val, '%') >= 0 || strings.IndexByte(val, '+') >= 0 {
			u, err := url.QueryUnescape(val)
			if err != nil {
				return "", n, errQueryMalformed
			}
			val = u
		}
		if len(val) > maxSize {
			return "", n, errTooLarge
		}
		tok = val
	}
	return tok, n, nil
}

var errCookieMalformed = &Error{kind: ErrInvalidRequest, desc: "malformed token cookie"}

// cookieCount counts the cookies named name in the Cookie headers the way a
// lenient parser reads them: every "name=" pair, whatever its value. Go's
// parser drops a cookie whose value has a byte it refuses (a backslash, '"',
// DEL), and npm's "cookie" keeps it (and the first of two), so the
// Verifier must not check one cookie while an upstream reads another.
func cookieCount(headers []string, name string) int {
	n := 0
	for _, h := range headers {
		for h != "" {
			var part string
			part, h, _ = strings.Cut(h, ";")
			k, _, ok := strings.Cut(part, "=")
			if ok && strings.Trim(k, " \t") == name {
				n++
			}
		}
	}
	return n
}
