package internaltoken_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// writeKey writes a new PKCS #8 key of alg (ES256 or EdDSA) to dir/name.
func writeKey(t testing.TB, dir, name, alg string) string {
	fail := func(err error) {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	var k crypto.Signer
	var err error
	switch alg {
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		fail(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		fail(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		fail(err)
	}
	return p
}

func jwtgatetestDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
