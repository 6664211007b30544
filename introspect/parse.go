package introspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// Answer is what Parse reads from an introspection response (RFC 7662
// §2.2): whether the token is active and, when present, its exp.
type Answer struct {
	// Active is true only when the member "active" is the JSON literal
	// true: absent, "true", 1 or anything else is not active.
	Active bool
	// Exp is the exp member (zero when absent), for the cache's lifetime.
	Exp time.Time
}

// Parse reads an introspection response body: one JSON object with unique
// member names (a duplicate "active" must not be read two ways). An object
// whose active is not exactly true is an inactive answer, not an error;
// anything that is not such an object, or an exp that is not a
// non-negative number, is ErrMalformedResponse.
func Parse(body []byte) (Answer, error) {
	var a Answer
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return a, malformed("not a JSON object")
	}
	seen := make(map[string]struct{}, 16)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return a, malformed("bad member name")
		}
		name, ok := t.(string)
		if !ok {
			return a, malformed("bad member name")
		}
		if _, dup := seen[name]; dup {
			return a, malformed("duplicate member")
		}
		seen[name] = struct{}{}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return a, malformed("bad member value")
		}
		switch name {
		case "active":
			a.Active = string(v) == "true"
		case "exp":
			var n json.Number
			if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) || json.Unmarshal(v, &n) != nil {
				return a, malformed("exp is not a number")
			}
			f, err := n.Float64()
			if err != nil || f < 0 || f > 1<<40 || math.IsNaN(f) {
				return a, malformed("exp is not a number")
			}
			sec, frac := math.Modf(f)
			a.Exp = time.Unix(int64(sec), int64(frac*1e9))
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return a, malformed("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return a, malformed("data after the object")
	}
	return a, nil
}

func malformed(why string) error {
	return unavailable{fmt.Errorf("%w: %s", ErrMalformedResponse, why)}
}
