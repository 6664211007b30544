package middleware

import (
	"testing"
)

// FuzzProofParser: a DPoP header of any content never panics the proof
// parser, and whatever it accepts has an allowed alg, a key and a
// thumbprint; FuzzHTU: normalisation never panics and is idempotent.
func FuzzProofParser(f *testing.F) {
	for _, s := range []string{
		// ES256 proof header {"typ":"dpop+jwt","alg":"ES256","jwk":{…}} with claims.
		"eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwiY3J2IjoiUC0yNTYiLCJ4IjoiZjgzT0o3RDJ0NnhsWXBKbzl5WVhBNWJSSXVVWEpNb3hHaDNxUmRkV2I0RSIsInkiOiJ4X0ZFelJ1OW0zNkhMTl90dWU2NTlMTnBYVzZwQ3lTdGlrWWpLSVdJNWEwIn19.eyJqdGkiOiJ4IiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9hLyIsImlhdCI6MX0.AAAA",
		"e30.e30.AA", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "",
	} {
		f.Add(s)
	}
	s := &dpopSpec{algs: map[string]*algSpec{}, maxSize: DefaultDPoPMaxProofSize}
	for _, a := range DefaultAlgorithms() {
		s.algs[a] = algSpecs[a]
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := s.parseProof(raw, DefaultMinRSABits)
		if err != nil {
			return
		}
		if p.spec == nil || p.key == nil || len(p.jkt) != 43 || p.jti == "" {
			t.Fatalf("accepted without alg, key, thumbprint or jti: %+v", p)
		}
	})
}

func FuzzHTU(f *testing.F) {
	for _, s := range []string{"https://A.example:443/a/./b/../c?q#f", "http://[::1]:80/%7e%2F", "https://x/%zz", "ftp://x/", "//x/y", "https://u@x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, ok := normalizeHTU(raw)
		if !ok {
			return
		}
		if n2, ok2 := normalizeHTU(n); !ok2 || n2 != n {
			t.Fatalf("not idempotent: %q → %q → %q (%v)", raw, n, n2, ok2)
		}
	})
}
