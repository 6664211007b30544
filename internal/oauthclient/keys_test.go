package oauthclient_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePrivateKeyEveryFormAndKind(t *testing.T) {
	for _, k := range keys {
		forms := map[string][]byte{}
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			t.Fatal(err)
		}
		forms["PKCS #8"] = pemOf("PRIVATE KEY", der)
		switch key := k.key.(type) {
		case *ecdsa.PrivateKey:
			sec1, err := x509.MarshalECPrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			forms["SEC 1"] = pemOf("EC PRIVATE KEY", sec1)
		case *rsa.PrivateKey:
			forms["PKCS #1"] = pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
		}
		for form, b := range forms {
			got, err := oauthclient.ParsePrivateKey(b)
			if err != nil {
				t.Fatalf("%s %s: %v", k.name, form, err)
			}
			if alg, _ := oauthclient.SigningAlg(got); alg != k.alg {
				t.Errorf("%s %s: alg %s", k.name, form, alg)
			}
			// Parsed again, the same key: the same fingerprint.
			if oauthclient.Fingerprint(got) != oauthclient.Fingerprint(k.key) {
				t.Errorf("%s %s: fingerprint differs from the key's", k.name, form)
			}
		}
	}
}

func TestParsePrivateKeyRefuses(t *testing.T) {
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224der, _ := x509.MarshalECPrivateKey(p224)
	pub, _ := x509.MarshalPKIXPublicKey(keys[1].key.Public())
	for name, b := range map[string][]byte{
		"no PEM":          []byte("not a key"),
		"empty":           nil,
		"public key":      pemOf("PUBLIC KEY", pub),
		"certificate":     pemOf("CERTIFICATE", []byte{0x30, 0}),
		"garbage PKCS #8": pemOf("PRIVATE KEY", []byte{1, 2, 3}),
		"garbage SEC 1":   pemOf("EC PRIVATE KEY", []byte{1, 2, 3}),
		"RSA 1024":        pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024)),
		"P-224":           pemOf("EC PRIVATE KEY", p224der),
	} {
		k, err := oauthclient.ParsePrivateKey(b)
		if k != nil || !errors.Is(err, oauthclient.ErrInvalidConfig) {
			t.Errorf("%s: %v %v, want ErrInvalidConfig", name, k, err)
		}
	}
}

func TestReadPrivateKeyFile(t *testing.T) {
	dir := t.TempDir()
	der, _ := x509.MarshalPKCS8PrivateKey(keys[0].key)
	good := filepath.Join(dir, "k.pem")
	big := filepath.Join(dir, "big.pem")
	write(t, good, string(pemOf("PRIVATE KEY", der)))
	write(t, big, strings.Repeat("x", oauthclient.MaxKeyFileBytes+1))
	if k, err := oauthclient.ReadPrivateKey(good); err != nil || oauthclient.Fingerprint(k) != oauthclient.Fingerprint(keys[0].key) {
		t.Errorf("good: %v", err)
	}
	for _, p := range []string{big, filepath.Join(dir, "missing.pem")} {
		if _, err := oauthclient.ReadPrivateKey(p); !errors.Is(err, oauthclient.ErrInvalidConfig) {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file, empty, big := filepath.Join(dir, "s"), filepath.Join(dir, "empty"), filepath.Join(dir, "big")
	write(t, file, "s3 cr3t\r\n")
	write(t, empty, "\n")
	write(t, big, strings.Repeat("s", oauthclient.MaxSecretFileBytes+1))
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"SECRET": "from-env", "BLANK": ""}[name]
		return v, ok
	}
	for _, tc := range []struct {
		name, env, file, want string
		bad                   bool
	}{
		{name: "env", env: "SECRET", want: "from-env"},
		{name: "file: trailing line break dropped, spaces kept", file: file, want: "s3 cr3t"},
		{name: "neither", want: ""},
		{name: "both", env: "SECRET", file: file, bad: true},
		{name: "unset", env: "UNSET", bad: true},
		{name: "blank", env: "BLANK", bad: true},
		{name: "empty file", file: empty, bad: true},
		{name: "large file", file: big, bad: true},
		{name: "missing file", file: filepath.Join(dir, "missing"), bad: true},
	} {
		got, err := oauthclient.Secret(env, tc.env, tc.file)
		switch {
		case tc.bad && !errors.Is(err, oauthclient.ErrInvalidConfig):
			t.Errorf("%s: err %v, want ErrInvalidConfig", tc.name, err)
		case tc.bad && strings.Contains(err.Error(), "from-env"):
			t.Errorf("%s: the error carries the secret: %v", tc.name, err)
		case !tc.bad && (err != nil || got != tc.want):
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	if oauthclient.Fingerprint(nil) != "" {
		t.Error("nil key has a fingerprint")
	}
	seen := map[string]string{}
	for _, k := range keys {
		f := oauthclient.Fingerprint(k.key)
		if len(f) != 64 {
			t.Errorf("%s: fingerprint %q", k.name, f)
		}
		if other, dup := seen[f]; dup {
			t.Errorf("%s and %s share a fingerprint", k.name, other)
		}
		seen[f] = k.name
	}
}
