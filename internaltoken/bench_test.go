package internaltoken_test

import (
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internaltoken"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// BenchmarkSign is one internal token per request, by key type.
func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			dir := b.TempDir()
			writeKey(b, dir, "k.pem", alg)
			ring, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Dir: dir})
			if err != nil {
				b.Fatal(err)
			}
			tr, err := internaltoken.New(internaltoken.Config{Keys: ring, Issuer: "https://gw.example", Audience: []string{"orders"},
				Claims: []string{"sub", "email"}})
			if err != nil {
				b.Fatal(err)
			}
			c := verified(b, jwtgatetest.NewClock(time.Now()), map[string]any{"email": "alice@example.com"})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.Sign(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
