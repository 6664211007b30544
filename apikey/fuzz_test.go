package apikey_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jwtgate/jwtgate/apikey"
)

// FuzzParseRecords: a key file either parses into valid records or is
// ErrInvalidRecord; it never panics, and what parses marshals back to
// records that parse the same.
func FuzzParseRecords(f *testing.F) {
	h := apikey.Hash("k")
	for _, s := range []string{
		`{"hash":"` + h + `","sub":"a"}`,
		"# c\n\n" + `{"id":"1","hash":"` + h + `","sub":"a","scopes":["r","w"],"tier":"gold","expires":"2030-01-01T00:00:00Z"}`,
		`{"hash":"sha256:zz","sub":"a"}`, `{}`, `[]`, `{"hash":1}`, "\x00", `{"hash":"` + h + `","sub":"a\n"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := apikey.ParseRecords(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, apikey.ErrInvalidRecord) {
				t.Fatalf("%v", err)
			}
			return
		}
		var out []byte
		for _, r := range recs {
			l, err := r.MarshalLine()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l...)
		}
		again, err := apikey.ParseRecords(bytes.NewReader(out))
		if err != nil || len(again) != len(recs) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
