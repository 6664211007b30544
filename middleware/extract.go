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
	t, err := v.extract(r)
	if err != nil {
		return "", err
	}
	return t, nil
}

func (v *Verifier) extract(r *http.Request) (string, *Error) {
	var token string
	found := 0
	if !v.cfg.DisableAuthorizationHeader {
		vals := r.Header["Authorization"]
		if len(vals) > 1 {
			return "", errMultiple
		}
		if len(vals) == 1 {
			t, ok, err := v.bearer(vals[0])
			if err != nil {
				return "", err
			}
			if ok {
				token, found = t, found+1
			}
		}
	}
	if v.cfg.HeaderName != "" {
		vals := r.Header.Values(v.cfg.HeaderName)
		if len(vals) > 1 {
			return "", errMultiple
		}
		if len(vals) == 1 {
			t := strings.TrimSpace(vals[0])
			if len(t) > v.cfg.MaxTokenSize {
				return "", errTooLarge
			}
			if t == "" {
				return "", errEmptyBearer
			}
			token, found = t, found+1
		}
	}
	if v.cfg.CookieName != "" && len(r.Header["Cookie"]) > 0 {
		n := 0
		for _, c := range r.CookiesNamed(v.cfg.CookieName) {
			n++
			if len(c.Value) > v.cfg.MaxTokenSize {
				return "", errTooLarge
			}
			if c.Value == "" {
				return "", errEmptyBearer
			}
			token = c.Value
		}
		if n > 1 {
			return "", errMultiple
		}
		found += n
	}
	if q := r.URL.RawQuery; q != "" && strings.Contains(q, "access_token") {
		if len(q) > 4*v.cfg.MaxTokenSize+1024 {
			return "", errTooLarge
		}
		vals, _ := url.ParseQuery(q)
		if at, ok := vals["access_token"]; ok {
			if !v.cfg.AllowQuery {
				return "", errQuery
			}
			if len(at) > 1 {
				return "", errMultiple
			}
			if len(at[0]) > v.cfg.MaxTokenSize {
				return "", errTooLarge
			}
			if at[0] == "" {
				return "", errEmptyBearer
			}
			token, found = at[0], found+len(at)
		}
	}
	switch {
	case found == 0:
		return "", errMissing
	case found > 1:
		return "", errMultiple
	}
	return token, nil
}

// bearer parses one Authorization value. ok is false for another scheme
// (Basic, DPoP, …): that is not a bearer token, so not ours to judge.
func (v *Verifier) bearer(h string) (string, bool, *Error) {
	const prefix = "bearer"
	if len(h) > v.cfg.MaxTokenSize+len(prefix)+16 {
		return "", false, errTooLarge
	}
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false, nil
	}
	rest := h[len(prefix):]
	if rest == "" {
		return "", false, errEmptyBearer
	}
	if rest[0] != ' ' {
		return "", false, nil // e.g. "BearerX": some other scheme
	}
	t := strings.Trim(rest, " ")
	if t == "" {
		return "", false, errEmptyBearer
	}
	if strings.IndexByte(t, ' ') >= 0 {
		return "", false, &Error{Kind: ErrInvalidRequest, Description: "malformed Authorization header"}
	}
	if len(t) > v.cfg.MaxTokenSize {
		return "", false, errTooLarge
	}
	return t, true, nil
}
