package middleware

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Claims is a verified token's claim set: the registered claims typed, the
// scopes, and the whole payload raw for everything else.
//
// A *Claims handed out by the Verifier is shared (the verified-token cache
// returns the same value to every request carrying the same token): treat
// it as read-only. It is safe for concurrent reads.
type Claims struct {
	Issuer          string    // iss
	Subject         string    // sub
	Audience        []string  // aud (a string is a one-element list)
	ExpiresAt       time.Time // exp; zero when absent
	NotBefore       time.Time // nbf; zero when absent
	IssuedAt        time.Time // iat; zero when absent
	ID              string    // jti
	AuthorizedParty string    // azp
	ClientID        string    // client_id

	scopes []string
	raw    json.RawMessage
	extra  []claimText // claims the Verifier's config names, pre-rendered as text
}

type claimText struct{ name, text string }

// Scopes returns the token's scopes: the space-separated "scope" claim
// (RFC 8693) and the "scp" claim (an array, or a space-separated string),
// in that order, without duplicates. The slice is shared: don't modify it.
func (c *Claims) Scopes() []string { return c.scopes }

// HasScopes reports whether the token has every one of scopes.
func (c *Claims) HasScopes(scopes ...string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.scopes, s) {
			return false
		}
	}
	return true
}

// Raw returns the payload's JSON exactly as signed. It is shared: don't
// modify it.
func (c *Claims) Raw() json.RawMessage { return c.raw }

// Get decodes the claim name into dst (as json.Unmarshal would) and reports
// whether the claim was present.
func (c *Claims) Get(name string, dst any) (bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(c.raw, &m); err != nil {
		return false, err
	}
	v, ok := m[name]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(v, dst)
}

// String returns the claim name as text when it is a JSON string, number or
// boolean, and an array of strings joined with ","; ok is false when the
// claim is missing or of another kind.
func (c *Claims) String(name string) (string, bool) {
	switch name {
	case "iss":
		return c.Issuer, c.Issuer != ""
	case "sub":
		return c.Subject, c.Subject != ""
	case "azp":
		return c.AuthorizedParty, c.AuthorizedParty != ""
	case "client_id":
		return c.ClientID, c.ClientID != ""
	case "jti":
		return c.ID, c.ID != ""
	}
	for _, e := range c.extra {
		if e.name == name {
			return e.text, true
		}
	}
	var v json.RawMessage
	if ok, err := c.Get(name, &v); !ok || err != nil {
		return "", false
	}
	return rawToText(v)
}

func rawToText(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case 't', 'f':
		return string(v), true
	case '[':
		var ss []string
		if json.Unmarshal(v, &ss) != nil {
			return "", false
		}
		return strings.Join(ss, ","), true
	case 'n', '{':
		return "", false
	}
	return string(v), true // a number, as written
}

// wireClaims is the typed decoding target; anything not listed stays raw.
type wireClaims struct {
	Iss      *string      `json:"iss"`
	Sub      *string      `json:"sub"`
	Aud      stringOrList `json:"aud"`
	Exp      numericDate  `json:"exp"`
	Nbf      numericDate  `json:"nbf"`
	Iat      numericDate  `json:"iat"`
	Jti      string       `json:"jti"`
	Azp      string       `json:"azp"`
	ClientID string       `json:"client_id"`
	Scope    *string      `json:"scope"`
	Scp      stringOrList `json:"scp"`
}

type stringOrList struct {
	set  bool
	list []string
}

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	s.set = true
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		s.list = []string{one}
		return nil
	}
	return json.Unmarshal(b, &s.list)
}

type numericDate struct {
	set bool
	t   time.Time
}

func (n *numericDate) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return errPayload
	}
	sec, frac := math.Modf(f)
	n.set, n.t = true, time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// decodeClaims parses the payload. It must be a JSON object.
func decodeClaims(payload []byte) (*Claims, *wireClaims, *Error) {
	var w wireClaims
	if len(payload) == 0 || payload[0] != '{' {
		return nil, nil, errPayload
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return nil, nil, errPayload
	}
	c := &Claims{
		Audience:        w.Aud.list,
		ExpiresAt:       w.Exp.t,
		NotBefore:       w.Nbf.t,
		IssuedAt:        w.Iat.t,
		ID:              w.Jti,
		AuthorizedParty: w.Azp,
		ClientID:        w.ClientID,
		raw:             payload,
	}
	if w.Iss != nil {
		c.Issuer = *w.Iss
	}
	if w.Sub != nil {
		c.Subject = *w.Sub
	}
	if w.Scope != nil {
		c.scopes = strings.Fields(*w.Scope)
	}
	for _, l := range w.Scp.list {
		for _, s := range strings.Fields(l) {
			if !slices.Contains(c.scopes, s) {
				c.scopes = append(c.scopes, s)
			}
		}
	}
	return c, &w, nil
}
