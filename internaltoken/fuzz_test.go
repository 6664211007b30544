package internaltoken_test

import (
	"errors"
	"os"
	"testing"

	"github.com/jwtgate/jwtgate/internaltoken"
)

func FuzzParsePrivateKey(f *testing.F) {
	dir := f.TempDir()
	for _, alg := range []string{"ES256", "EdDSA"} {
		b, err := os.ReadFile(writeKey(f, dir, alg+".pem", alg))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := internaltoken.ParsePrivateKey(b)
		if err != nil {
			if !errors.Is(err, internaltoken.ErrInvalidConfig) {
				t.Fatalf("err %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		if k == nil {
			t.Fatal("nil key without an error")
		}
	})
}
