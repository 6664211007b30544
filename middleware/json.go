package middleware

import (
	"encoding/json"
	"unicode/utf8"
)

// A small strict JSON reader for the two objects the cold path must read:
// the JWS header and the claim set. encoding/json would do, but reflection
// and per-field allocations cost more than the rest of the path together;
// this reader walks the object once, validates every value (also the ones it
// skips), rejects duplicate member names (RFC 7515 §4 / RFC 7519 §4: a
// duplicate "alg" or "exp" must not be read two ways), invalid UTF-8 and
// nesting deeper than maxDepth, and hands out values as substrings of its
// input, so reading costs no allocations. FuzzJSONObject checks it against
// encoding/json.

const maxDepth = 32

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(s string, i int) int {
	for i < len(s) && isWS(s[i]) {
		i++
	}
	return i
}

// scanString expects s[i] == '"' and returns the index after the closing
// quote and whether the string holds escapes.
func scanString(s string, i int) (end int, esc bool, ok bool) {
	i++
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return i + 1, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(s) {
				return 0, false, false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) {
					return 0, false, false
				}
				for _, h := range []byte(s[i+2 : i+6]) {
					if !isHex(h) {
						return 0, false, false
					}
				}
				i += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				return 0, false, false
			}
			i += n
		}
	}
	return 0, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber follows RFC 8259's number grammar.
func scanNumber(s string, i int) (int, bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return 0, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return 0, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i, true
}

// scanValue returns the index after the value starting at s[i] (no leading
// whitespace).
func scanValue(s string, i, depth int) (int, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case c == '"':
		end, _, ok := scanString(s, i)
		return end, ok
	case c == '{':
		if depth >= maxDepth {
			return 0, false
		}
		return scanMembers(s, i, depth+1, nil)
	case c == '[':
		if depth >= maxDepth {
			return 0, false
		}
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == ']' {
			return i + 1, true
		}
		for {
			end, ok := scanValue(s, i, depth+1)
			if !ok {
				return 0, false
			}
			i = skipWS(s, end)
			if i >= len(s) {
				return 0, false
			}
			if s[i] == ']' {
				return i + 1, true
			}
			if s[i] != ',' {
				return 0, false
			}
			i = skipWS(s, i+1)
		}
	case c == 't':
		return lit(s, i, "true")
	case c == 'f':
		return lit(s, i, "false")
	case c == 'n':
		return lit(s, i, "null")
	case c == '-' || isDigit(c):
		return scanNumber(s, i)
	}
	return 0, false
}

func lit(s string, i int, want string) (int, bool) {
	if len(s)-i >= len(want) && s[i:i+len(want)] == want {
		return i + len(want), true
	}
	return 0, false
}

// member is one name/value pair of the top-level object: name is the raw
// name between the quotes (escapes undecoded, nameEsc tells), value the raw
// JSON value.
type member struct {
	name    string
	nameEsc bool
	value   string
}

// scanMembers scans the object at s[i] == '{'. When fn is non-nil it is
// called for each member (top level only) and may stop the scan with false.
func scanMembers(s string, i, depth int, fn func(member) bool) (int, bool) {
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return 0, false
		}
		nameEnd, esc, ok := scanString(s, i)
		if !ok {
			return 0, false
		}
		name := s[i+1 : nameEnd-1]
		i = skipWS(s, nameEnd)
		if i >= len(s) || s[i] != ':' {
			return 0, false
		}
		i = skipWS(s, i+1)
		end, ok := scanValue(s, i, depth)
		if !ok {
			return 0, false
		}
		if fn != nil && !fn(member{name: name, nameEsc: esc, value: s[i:end]}) {
			return 0, false
		}
		i = skipWS(s, end)
		if i >= len(s) {
			return 0, false
		}
		if s[i] == '}' {
			return i + 1, true
		}
		if s[i] != ',' {
			return 0, false
		}
		i = skipWS(s, i+1)
	}
}

// walkObject calls fn for each member of the JSON object s, after checking
// that s is exactly one valid object with no duplicate names. Names with
// escapes are decoded before the duplicate check (so "a" and "\u0061"
// collide) and passed to fn decoded.
func walkObject(s string, fn func(name, value string) bool) bool {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	var (
		names [24]string
		n     int
		more  map[string]struct{}
	)
	end, ok := scanMembers(s, i, 1, func(m member) bool {
		name := m.name
		if m.nameEsc {
			var ok bool
			if name, ok = unquoteEsc(`"` + m.name + `"`); !ok {
				return false
			}
		}
		for _, seen := range names[:n] {
			if seen == name {
				return false
			}
		}
		if n < len(names) {
			names[n] = name
			n++
		} else {
			if more == nil {
				more = make(map[string]struct{})
			}
			if _, dup := more[name]; dup {
				return false
			}
			more[name] = struct{}{}
		}
		return fn(name, m.value)
	})
	return ok && skipWS(s, end) == len(s)
}

// jsonString returns the string value of the raw JSON value v, and false
// when v is not a string.
func jsonString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' {
			return unquoteEsc(v)
		}
	}
	return v[1 : len(v)-1], true
}

// unquoteEsc decodes a (valid) JSON string with escapes: rare in tokens, so
// encoding/json may allocate here.
func unquoteEsc(v string) (string, bool) {
	var out string
	if json.Unmarshal([]byte(v), &out) != nil {
		return "", false
	}
	return out, true
}

// jsonStringList reads a string or an array of strings.
func jsonStringList(v string) ([]string, bool) {
	if s, ok := jsonString(v); ok {
		return []string{s}, true
	}
	if len(v) == 0 || v[0] != '[' {
		return nil, false
	}
	var out []string
	i := skipWS(v, 1)
	if i < len(v) && v[i] == ']' {
		return []string{}, true
	}
	for i < len(v) {
		if v[i] != '"' {
			return nil, false
		}
		end, _, ok := scanString(v, i)
		if !ok {
			return nil, false
		}
		s, ok := jsonString(v[i:end])
		if !ok {
			return nil, false
		}
		if out == nil {
			out = make([]string, 0, 4)
		}
		out = append(out, s)
		i = skipWS(v, end)
		if i < len(v) && v[i] == ']' {
			return out, true
		}
		if i >= len(v) || v[i] != ',' {
			return nil, false
		}
		i = skipWS(v, i+1)
	}
	return nil, false
}
