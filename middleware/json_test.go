package middleware

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

var jsonSeeds = []string{
	`{}`, ` { "a" : 1 } `, `{"alg":"RS256","kid":"k1","typ":"JWT"}`,
	`{"a":"\u0041\n\"","b":[1,-2.5e+3,true,false,null,{"c":[]}],"d":{}}`,
	`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":1,}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
	`{"a":"x` + "\x00" + `"}`, `{"a":"` + "\xff" + `"}`, `{"a":tru}`, `[1]`, `"s"`, `{"a":1} x`,
	`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, `{"a":"\ud800"}`,
	`{"exp":1e400}`, "{\"a\":\t1\r\n}", `{"a":"\x"}`, `{"a":"\u12"}`,
}

// FuzzJSONObject checks the cold path's JSON reader against encoding/json:
// whatever it accepts, encoding/json accepts with the same members; whatever
// encoding/json accepts as an object with unique names, valid UTF-8 and
// modest nesting, it accepts too.
func FuzzJSONObject(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := map[string]string{}
		dup := false
		ok := walkObject(s, func(name, value string) bool {
			if _, seen := got[name]; seen {
				dup = true
			}
			got[name] = value
			return true
		})
		if dup {
			t.Fatalf("walkObject passed a duplicate name in %q", s)
		}
		var want map[string]json.RawMessage
		stdOK := json.Unmarshal([]byte(s), &want) == nil && want != nil && bytes.HasPrefix(bytes.TrimLeft([]byte(s), " \t\r\n"), []byte("{"))
		if ok {
			if !stdOK {
				t.Fatalf("walkObject accepts %q, encoding/json does not", s)
			}
			if len(got) != len(want) {
				t.Fatalf("%q: %d members, encoding/json %d", s, len(got), len(want))
			}
			for k, v := range want {
				if got[k] != string(v) {
					t.Fatalf("%q: member %q = %q, encoding/json %q", s, k, got[k], v)
				}
			}
			return
		}
		if stdOK && utf8.ValidString(s) && !hasDupNames(s) && depth(s) < maxDepth {
			t.Fatalf("walkObject rejects %q, which encoding/json accepts", s)
		}
	})
}

func hasDupNames(s string) bool {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if _, err := dec.Token(); err != nil {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		name, _ := tok.(string)
		if seen[name] {
			return true
		}
		seen[name] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

func depth(s string) int {
	d, m := 0, 0
	inStr, esc := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			d++
			m = max(m, d)
		case !inStr && (c == '}' || c == ']'):
			d--
		}
	}
	return m
}

func TestJSONStringList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`"a"`, []string{"a"}, true},
		{`["a","b\u0063"]`, []string{"a", "bc"}, true},
		{`[ "a" , "b" ]`, []string{"a", "b"}, true},
		{`[]`, []string{}, true},
		{`["a",1]`, nil, false},
		{`[1]`, nil, false},
		{`{}`, nil, false},
		{`null`, nil, false},
	} {
		got, ok := jsonStringList(tc.in)
		if ok != tc.ok || len(got) != len(tc.want) {
			t.Errorf("%s: %q %v", tc.in, got, ok)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %q", tc.in, got)
			}
		}
	}
}

func FuzzBase64(f *testing.F) {
	for _, s := range []string{"", "QQ", "QR", "QUI", "QUJ", "QUJD", "A", "a+b/", "YQ==", "Y\nQ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := decodedLen(len(s))
		var ok bool
		var got []byte
		if n >= 0 {
			got = make([]byte, n)
			ok = b64Decode(got, s)
		}
		want, err := strictB64.DecodeString(s)
		stdOK := err == nil && !bytes.ContainsAny([]byte(s), "\r\n")
		if ok != stdOK || (ok && !bytes.Equal(got, want)) {
			t.Fatalf("%q: ours %v %x, encoding/base64 strict %v %x", s, ok, got, stdOK, want)
		}
	})
}

var strictB64 = base64.RawURLEncoding.Strict()
