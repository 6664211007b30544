package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxExpiresIn bounds expires_in: a year is already "forever" for a token
// a gateway holds, and more is an overflow waiting to happen.
const maxExpiresIn = 365 * 24 * time.Hour

// tokenResponse is a successful token endpoint answer, checked.
type tokenResponse struct {
	accessToken string
	expiresIn   time.Duration // 0: absent
}

// parseTokenResponse reads a 2xx token endpoint body (RFC 6749 §5.1,
// RFC 8693 §2.2.1). The token must be one that can go in a header as it
// is: visible ASCII only. token_type must be Bearer or N_A (RFC 8693
// §2.2.1: a token that is not an access token); a DPoP or other
// sender-constrained type is useless to a gateway holding no key for it.
func parseTokenResponse(body []byte) (tokenResponse, error) {
	var raw struct {
		AccessToken     *string         `json:"access_token"`
		TokenType       *string         `json:"token_type"`
		ExpiresIn       json.RawMessage `json:"expires_in"`
		IssuedTokenType *string         `json:"issued_token_type"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return tokenResponse{}, fmt.Errorf("%w: not a JSON object: %w", ErrBadResponse, err)
	}
	if dec.More() {
		return tokenResponse{}, fmt.Errorf("%w: data after the JSON object", ErrBadResponse)
	}
	if raw.AccessToken == nil || *raw.AccessToken == "" {
		return tokenResponse{}, fmt.Errorf("%w: no access_token", ErrBadResponse)
	}
	if !headerSafe(*raw.AccessToken) {
		return tokenResponse{}, fmt.Errorf("%w: access_token has characters a header cannot carry", ErrBadResponse)
	}
	if raw.TokenType == nil {
		return tokenResponse{}, fmt.Errorf("%w: no token_type", ErrBadResponse)
	}
	if tt := *raw.TokenType; !strings.EqualFold(tt, "Bearer") && tt != "N_A" {
		return tokenResponse{}, fmt.Errorf("%w: token_type %q: want Bearer or N_A", ErrBadResponse, truncate(tt))
	}
	exp, err := parseExpiresIn(raw.ExpiresIn)
	if err != nil {
		return tokenResponse{}, err
	}
	return tokenResponse{accessToken: *raw.AccessToken, expiresIn: exp}, nil
}

// parseExpiresIn reads expires_in: a JSON number of seconds (a string
// holding one, as some servers send, too), positive. Absent or null is 0.
func parseExpiresIn(v json.RawMessage) (time.Duration, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return 0, nil
	}
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, fmt.Errorf("%w: expires_in: %w", ErrBadResponse, err)
		}
		v = json.RawMessage(s)
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0, fmt.Errorf("%w: expires_in %q is not a positive number of seconds", ErrBadResponse, truncate(string(v)))
	}
	if f > maxExpiresIn.Seconds() {
		return maxExpiresIn, nil
	}
	return time.Duration(f * float64(time.Second)), nil
}

// parseErrorResponse reads an error answer's error code and description
// (RFC 6749 §5.2); a body that is not one gives empty strings.
func parseErrorResponse(body []byte) (code, desc string) {
	var raw struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return "", ""
	}
	// The code goes to logs and hooks: keep it a short token.
	if !oauthCode(raw.Error) {
		raw.Error = ""
	}
	return raw.Error, truncate(raw.ErrorDescription)
}

// oauthCode reports whether s looks like an OAuth error code (RFC 6749
// §5.2: NQSCHAR, here kept to what real codes use).
func oauthCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// headerSafe reports whether s is visible ASCII (RFC 6750's b64token and
// every opaque token format in use fit).
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// truncate bounds server text that ends up in an error.
func truncate(s string) string {
	const n = 100
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
