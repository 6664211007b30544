package cache

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
)

// seedSets returns the JWK Set documents under testdata/jwks.
func seedSets(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "jwks", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no seed sets: %v", err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestParseExternalVectors checks the cache's verdict on key sets written
// by others (RFC 7517/7520, the JOSE cookbook, Wycheproof).
func TestParseExternalVectors(t *testing.T) {
	want := map[string]int{ // usable keys; 0 means ErrNoUsableKeys
		"rfc7517_a1_public.json":            1, // the EC key is use=enc
		"rfc7517_a2_private.json":           0, // private material
		"rfc7517_a3_symmetric.json":         0, // oct
		"rfc7520_3_public.json":             2, // EC and RSA share a kid (RFC 7517 §4.5 allows it): both served, KeyRead gives the first
		"cookbook_3_1_ec_public.json":       1,
		"cookbook_3_2_ec_private.json":      0,
		"cookbook_3_3_rsa_public.json":      1,
		"wycheproof_rs256.json":             1,
		"wycheproof_roca_rs256.json":        1, // ROCA weakness is not detectable from the key alone
		"wycheproof_rsa1_5_enc.json":        0,
		"wycheproof_keysize_too_small.json": 0,
		"wycheproof_exponent_one.json":      0,
		"wycheproof_wrong_algorithm.json":   0,
		"wycheproof_invalid_algorithm.json": 0,
		"wycheproof_invalid_use.json":       0,
		"wycheproof_invalid_point.json":     0,
		"wycheproof_wrong_curve.json":       0,
		"wycheproof_wrong_kty.json":         0,
	}
	sets := seedSets(t)
	if len(sets) != len(want) {
		t.Fatalf("%d seed files, %d expectations", len(sets), len(want))
	}
	for name, body := range sets {
		ps, err := parseJWKS(body, DefaultMaxKeys)
		n, ok := want[name]
		switch {
		case !ok:
			t.Errorf("%s: no expectation", name)
		case n == 0 && !errors.Is(err, ErrNoUsableKeys):
			t.Errorf("%s: err = %v, want ErrNoUsableKeys", name, err)
		case n > 0 && err != nil:
			t.Errorf("%s: %v", name, err)
		case n > 0 && len(ps.keys) != n:
			t.Errorf("%s: %d usable keys, want %d (skipped %+v)", name, len(ps.keys), n, ps.skipped)
		}
	}
}

func FuzzParseJWKS(f *testing.F) {
	for _, b := range seedSets(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := parseJWKS(body, 16)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cache: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		if len(ps.keys) == 0 || len(ps.keys) > 16 {
			t.Fatalf("%d keys in an accepted set", len(ps.keys))
		}
		for kid, k := range ps.byKID {
			if k.Marshal().KID != kid {
				t.Fatalf("key under kid %q has kid %q", kid, k.Marshal().KID)
			}
		}
		for _, k := range ps.keys {
			m := k.Marshal()
			if m.D != "" || m.K != "" {
				t.Fatal("private material accepted")
			}
			if m.USE != "" && m.USE != jwkset.UseSig {
				t.Fatalf("use %q accepted", m.USE)
			}
			switch pk := k.Key().(type) {
			case *rsa.PublicKey:
				if pk.N.BitLen() < minRSABits || pk.E < 3 {
					t.Fatalf("weak RSA key accepted: %d bits, e=%d", pk.N.BitLen(), pk.E)
				}
			case *ecdsa.PublicKey, ed25519.PublicKey:
			default:
				t.Fatalf("key of type %T accepted", pk)
			}
		}
		again, err := parseJWKS(body, 16)
		if err != nil || again.digest != ps.digest {
			t.Fatalf("parse is not deterministic: %v", err)
		}
	})
}

func FuzzParseDiscovery(f *testing.F) {
	const iss = "https://idp.example.com"
	f.Add([]byte(`{"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks"}`))
	f.Add([]byte(`{"issuer":"https://idp.example.com/","jwks_uri":"https://idp.example.com/jwks"}`))
	f.Add([]byte(`{"issuer":"https://idp.example.com","jwks_uri":"http://evil.example.com/jwks"}`))
	f.Add([]byte(`{"issuer":"https://idp.example.com"}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := parseDiscovery(body, iss, false)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cache: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		if err := checkURL(u, false); err != nil {
			t.Fatalf("accepted jwks_uri %q fails checkURL: %v", u, err)
		}
	})
}

func FuzzTTLFromHeaders(f *testing.F) {
	f.Add("max-age=600", "", "", "")
	f.Add("no-store", "", "", "")
	f.Add("", "Thu, 01 Jan 2026 00:00:00 GMT", "Wed, 31 Dec 2025 23:00:00 GMT", "")
	f.Add("max-age=99999999999999999999", "", "", "-5")
	f.Add(`max-age="60", s-maxage=5`, "0", "", "10")
	f.Fuzz(func(t *testing.T, cc, expires, date, age string) {
		h := http.Header{}
		for k, v := range map[string]string{"Cache-Control": cc, "Expires": expires, "Date": date, "Age": age} {
			if v != "" {
				h.Set(k, v)
			}
		}
		lo, hi := time.Minute, 24*time.Hour
		got := ttlFromHeaders(h, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour, lo, hi)
		if got < lo || got > hi {
			t.Fatalf("ttl %v outside [%v, %v]", got, lo, hi)
		}
	})
}
