package apikey

import (
	"crypto/subtle"
	"testing"
)

func TestEqual32(t *testing.T) {
	var a, b [32]byte
	for i := range a {
		a[i], b[i] = byte(i), byte(i)
	}
	if !equal32(&a, &b) {
		t.Fatal("equal hashes differ")
	}
	for i := range 32 {
		for _, bit := range []byte{1, 0x80} {
			c := b
			c[i] ^= bit
			if equal32(&a, &c) || subtle.ConstantTimeCompare(a[:], c[:]) == 1 {
				t.Errorf("byte %d bit %#x: equal", i, bit)
			}
		}
	}
}
