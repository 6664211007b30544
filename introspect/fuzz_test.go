package introspect

import (
	"errors"
	"testing"
)

// FuzzParse: any body either parses (active only for the literal true) or
// is ErrMalformedResponse, which is also ErrUnavailable; it never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"active":true}`, `{"active":false}`, `{"active":"true"}`, `{"active":1}`, `{}`,
		`{"active":true,"exp":1700000000}`, `{"active":true,"exp":1.5e9}`, `{"active":true,"exp":"x"}`,
		`{"active":true,"exp":-1}`, `{"active":true,"active":false}`, `[true]`, `null`, ``, `{"active":true}x`,
		`{"active":true,"aud":["a","b"],"scope":"r w","sub":"\u00e9"}`, `{"a":{"b":[1,2,{"c":null}]}}`,
		"{\"active\":true,\"sub\":\"\xff\"}", `{"active" : true }`, `{"active":tru}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("error %v is not ErrMalformedResponse and ErrUnavailable", err)
			}
			return
		}
		if a.Active {
			// Only an object whose active member is the literal true.
			b2, err2 := Parse(b)
			if err2 != nil || !b2.Active {
				t.Fatal("not deterministic")
			}
		}
	})
}

func TestParse(t *testing.T) {
	for body, want := range map[string]bool{
		`{"active":true}`: true, `{ "active" : true }`: true, `{"active":"true"}`: false, `{"active":1}`: false,
		`{}`: false, `{"active":false}`: false, `{"Active":true}`: false,
	} {
		a, err := Parse([]byte(body))
		if err != nil || a.Active != want {
			t.Errorf("%s: %v %v", body, a.Active, err)
		}
	}
	for _, body := range []string{`{"active":true,"active":true}`, `[]`, `{"active":true}{}`, `{"active":true,"exp":"1"}`, `{"active":true,"exp":1e300}`} {
		if _, err := Parse([]byte(body)); !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("%s: %v", body, err)
		}
	}
}
