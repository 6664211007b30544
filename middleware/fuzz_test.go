package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary tokens to the whole Verifier (cache on). It
// must never panic, every rejection must be one of the package's errors
// with a 4xx/503 answer, and it may accept only the tokens that were
// genuinely signed: canonical base64url leaves each valid token exactly one
// spelling, so anything else accepted is a forgery.
func FuzzVerify(f *testing.F) {
	k := keys(f)
	valid := map[string]bool{}
	for _, tok := range []string{
		sign(f, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims()),
		sign(f, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims()),
		sign(f, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, goodClaims()),
		sign(f, jwt.SigningMethodPS256, k.rsa2, "rsa-ps", nil, with(goodClaims(), "aud", []string{"x", "api"})),
	} {
		valid[tok] = true
		f.Add(tok)
		f.Add(tok + ".")
		f.Add(strings.Replace(tok, ".", "..", 1))
		f.Add(tok[:len(tok)/2])
	}
	for _, s := range []string{
		"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJub25lIn0.e30.c2ln",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJjcml0IjpbImV4cCJdfQ.e30.c2ln",
		b64([]byte(`{"alg":"RS256","kid":"rsa1","alg":"none"}`)) + ".e30.c2ln",
		b64([]byte(`{"alg":"HS256","kid":"rsa1"}`)) + "." + b64(mustJSON(f, goodClaims())) + ".c2ln",
		b64([]byte(`{"alg":"ES256","kid":"ec1"}`)) + "." + b64(mustJSON(f, goodClaims())) + "." + b64(make([]byte, 64)),
	} {
		f.Add(s)
	}
	// A second Verifier with HS256 enabled and kid optional covers the
	// secret and kid-less key paths.
	secret := []byte("0123456789abcdef0123456789abcdef")
	hs := sign(f, jwt.SigningMethodHS256, secret, "", nil, goodClaims())
	valid[hs] = true
	f.Add(hs)
	v, err := New(baseConfig(memKeys(f)))
	if err != nil {
		f.Fatal(err)
	}
	lax := baseConfig(memKeys(f))
	lax.HMACSecret, lax.Algorithms, lax.KIDOptional = secret, append(DefaultAlgorithms(), "HS256"), true
	v2, err := New(lax)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		for _, v := range []*Verifier{v, v2} {
			checkFuzzVerdict(t, ctx, v, token, valid)
		}
	})
}

// checkFuzzVerdict: only genuinely signed tokens pass; every rejection is
// typed, maps to 401 or 503 and does not quote the token.
func checkFuzzVerdict(t *testing.T, ctx context.Context, v *Verifier, token string, valid map[string]bool) {
	c, err := v.Verify(ctx, token)
	if err == nil {
		if !valid[token] {
			t.Fatalf("accepted a token that was never signed: %q", token)
		}
		if c == nil || c.Subject != "user-1" {
			t.Fatalf("accepted with claims %+v", c)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind() == nil {
		t.Fatalf("untyped error %v", err)
	}
	if st := Status(err); st != http.StatusUnauthorized && st != http.StatusServiceUnavailable {
		t.Fatalf("status %d for %v", st, err)
	}
	if token != "" && len(token) > 8 && strings.Contains(err.Error(), token) {
		t.Fatalf("error text contains the token")
	}
}

// FuzzExtract feeds arbitrary Authorization, token-header, cookie and query
// values to extraction: no panic, a typed error, and a returned token is
// non-empty, within MaxTokenSize and free of spaces.
func FuzzExtract(f *testing.F) {
	for _, s := range [][4]string{
		{"Bearer abc.def.ghi", "", "", ""},
		{"bearer  abc", "", "", ""},
		{"Bearer", "", "", ""},
		{"Bearer ", "", "", ""},
		{"Basic dXNlcjpw", "", "", ""},
		{"BearerX abc", "", "", ""},
		{"Bearer a b", "", "", ""},
		{"", "tok", "", ""},
		{"", "", "at=tok; other=1", ""},
		{"", "", "at=a; at=b", ""},
		{"", "", "", "access_token=tok"},
		{"", "", "", "access_token=a&access_token=b"},
		{"Bearer a", "", "", "access_token=b"},
		{"Bearer " + strings.Repeat("a", 9000), "", "", ""},
		{"", "", "", "access_token=%zz"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	cfg := baseConfig(memKeys(f))
	cfg.CookieName = "at"
	cfg.HeaderName = "X-Token"
	cfg.AllowQuery = true
	withQuery, _ := New(cfg)
	cfg.AllowQuery = false
	noQuery, _ := New(cfg)
	f.Fuzz(func(t *testing.T, authz, header, cookie, query string) {
		r := &http.Request{Method: "GET", Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: query}}
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if header != "" {
			r.Header["X-Token"] = []string{header}
		}
		if cookie != "" {
			r.Header["Cookie"] = []string{cookie}
		}
		for _, v := range []*Verifier{withQuery, noQuery} {
			tok, err := v.Extract(r)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("untyped error %v", err)
				}
				if st := Status(err); st != 400 && st != 401 {
					t.Fatalf("status %d", st)
				}
				continue
			}
			if tok == "" || len(tok) > v.cfg.MaxTokenSize || (strings.Contains(tok, " ") && tok == strings.TrimSpace(authz)) {
				t.Fatalf("extracted %q", tok)
			}
		}
	})
}
