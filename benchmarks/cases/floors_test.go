package cases

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestDERSignature checks the floor's hand-made DER against encoding/asn1,
// including values with leading zero bytes and with the high bit set.
func TestDERSignature(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var r, s [32]byte
		for j := range r {
			r[j], s[j] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		switch i % 4 {
		case 1:
			r[0], r[1] = 0, 0x80 // leading zero, then a high bit
		case 2:
			s[0] = 0xff
		case 3:
			r[0], s[0], s[1] = 0, 0, 0
		}
		want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r[:]), new(big.Int).SetBytes(s[:])})
		if err != nil {
			t.Fatal(err)
		}
		if got := derSignature(nil, r[:], s[:]); !bytes.Equal(got, want) {
			t.Fatalf("r=%x s=%x:\n got %x\nwant %x", r, s, got, want)
		}
	}
}
