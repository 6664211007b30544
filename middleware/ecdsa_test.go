package middleware

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"
)

// ecdsaCase is one alg with a key pair and a signature golang-jwt made.
type ecdsaCase struct {
	alg   string
	key   *ecdsa.PrivateKey
	input string
	sig   []byte
}

func ecdsaCases(t testing.TB) []ecdsaCase {
	t.Helper()
	var cs []ecdsaCase
	for _, c := range []struct {
		alg   string
		curve elliptic.Curve
	}{{"ES256", elliptic.P256()}, {"ES384", elliptic.P384()}, {"ES512", elliptic.P521()}} {
		k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		input := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0"
		sig, err := algSpecs[c.alg].method.Sign(input, k)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, ecdsaCase{c.alg, k, input, sig})
	}
	return cs
}

// The direct ECDSA check answers exactly as golang-jwt's method on every
// signature shape that matters: the real one, every byte flipped, r or s
// zero, r or s with leading zeros or the top bit set, r or s the group
// order or above, the wrong length, and another curve's key.
func TestECDSAMatchesGolangJWT(t *testing.T) {
	for _, c := range ecdsaCases(t) {
		spec := algSpecs[c.alg]
		size := spec.ec.size
		n := c.key.Curve.Params().N
		pub := &c.key.PublicKey
		check := func(name string, sig []byte, key any) {
			t.Helper()
			want := spec.method.Verify(c.input, sig, key) == nil
			if got := spec.verify(c.input, sig, key); got != want {
				t.Errorf("%s %s: direct check %v, golang-jwt %v", c.alg, name, got, want)
			}
		}
		check("valid", c.sig, pub)
		if !spec.verify(c.input, c.sig, pub) {
			t.Fatalf("%s: a valid signature refused", c.alg)
		}
		for i := range c.sig {
			bad := append([]byte(nil), c.sig...)
			bad[i] ^= 0x01
			check("flipped byte", bad, pub)
		}
		fixed := func(v *big.Int) []byte { return v.FillBytes(make([]byte, size)) }
		r, s := new(big.Int).SetBytes(c.sig[:size]), new(big.Int).SetBytes(c.sig[size:])
		for name, rs := range map[string][2]*big.Int{
			"r zero":          {big.NewInt(0), s},
			"s zero":          {r, big.NewInt(0)},
			"r one":           {big.NewInt(1), s},
			"r = n":           {n, s},
			"s = n":           {r, n},
			"r + n":           {new(big.Int).Add(r, n), s},
			"s = n - 1":       {r, new(big.Int).Sub(n, big.NewInt(1))},
			"r top bit set":   {new(big.Int).Sub(n, big.NewInt(2)), s},
			"s small (zeros)": {r, big.NewInt(255)},
		} {
			if rs[0].BitLen() > 8*size || rs[1].BitLen() > 8*size {
				continue // does not fit the fixed width
			}
			check(name, append(fixed(rs[0]), fixed(rs[1])...), pub)
		}
		check("short", c.sig[:len(c.sig)-1], pub)
		check("long", append(append([]byte(nil), c.sig...), 0), pub)
		check("empty", nil, pub)
		for _, o := range ecdsaCases(t) {
			if o.alg != c.alg {
				check("another curve's key", c.sig, &o.key.PublicKey)
			}
		}
		check("not an EC key", c.sig, "key")
		// golang-jwt's method dereferences a nil key; this one refuses it.
		if spec.verify(c.input, c.sig, (*ecdsa.PublicKey)(nil)) {
			t.Errorf("%s: a nil key accepted", c.alg)
		}
	}
}

// The signature is the client's input: whatever its bytes, the direct
// check agrees with golang-jwt's and never panics.
func FuzzECDSAMatchesGolangJWT(f *testing.F) {
	cs := ecdsaCases(f)
	for _, c := range cs {
		f.Add(c.alg, c.sig)
		f.Add(c.alg, make([]byte, 2*algSpecs[c.alg].ec.size))
	}
	f.Fuzz(func(t *testing.T, alg string, sig []byte) {
		var c *ecdsaCase
		for i := range cs {
			if cs[i].alg == alg {
				c = &cs[i]
			}
		}
		if c == nil {
			return
		}
		spec := algSpecs[alg]
		want := spec.method.Verify(c.input, sig, &c.key.PublicKey) == nil
		if got := spec.verify(c.input, sig, &c.key.PublicKey); got != want {
			t.Fatalf("%s %x: direct check %v, golang-jwt %v", alg, sig, got, want)
		}
	})
}

// A cold ES256 check allocates one thing beyond what crypto/ecdsa's
// VerifyASN1 does inside: the DER signature handed to it, which escapes
// there. golang-jwt's method allocates 14 beyond it (its hash, two big.Ints,
// their bytes again, and ecdsa.Verify's ASN.1 builder).
func TestECDSAVerifyAllocatesNothingOfItsOwn(t *testing.T) {
	c := ecdsaCases(t)[0]
	spec := algSpecs[c.alg]
	der, _ := appendECDSASignature(nil, c.sig[:32], c.sig[32:])
	sum := sha256.Sum256([]byte(c.input))
	floor := testing.AllocsPerRun(20, func() { ecdsa.VerifyASN1(&c.key.PublicKey, sum[:], der) })
	ours := testing.AllocsPerRun(20, func() {
		if !spec.verify(c.input, c.sig, &c.key.PublicKey) {
			t.Fatal("refused")
		}
	})
	jwtlib := testing.AllocsPerRun(20, func() { _ = spec.method.Verify(c.input, c.sig, &c.key.PublicKey) })
	t.Logf("allocations: VerifyASN1 %v, this check %v, golang-jwt %v", floor, ours, jwtlib)
	if ours > floor+1 || ours >= jwtlib {
		t.Errorf("%v allocations per check, crypto/ecdsa's own %v, golang-jwt's %v", ours, floor, jwtlib)
	}
}
