package oauthclient

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"
)

// Bounds on the files a client reads: a secret is short and a PEM key a
// few KiB; anything longer is the wrong file.
const (
	MaxSecretFileBytes = 16 << 10
	MaxKeyFileBytes    = 64 << 10
)

// ParsePrivateKey reads a PEM private key that can sign private_key_jwt
// assertions (SigningAlg): PKCS #8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE
// KEY") or PKCS #1 ("RSA PRIVATE KEY"). Errors match ErrInvalidConfig and
// never quote the key.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, configErr("private key: no PEM block")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, configErr("private key: PEM block %q: want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY", truncate(block.Type))
	}
	if err != nil {
		return nil, configErr("private key: %v", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, configErr("private key: %T cannot sign", k)
	}
	if _, err := SigningAlg(s); err != nil {
		return nil, err
	}
	return s, nil
}

// ReadPrivateKey reads ParsePrivateKey's PEM from a file of at most
// MaxKeyFileBytes.
func ReadPrivateKey(path string) (crypto.Signer, error) {
	b, err := readSmallFile(path, MaxKeyFileBytes)
	if err != nil {
		return nil, configErr("private key file: %v", err)
	}
	return ParsePrivateKey(b)
}

// ReadSecretFile reads a client secret from a file of at most
// MaxSecretFileBytes (a mounted Secret), without its trailing line
// breaks. An empty secret is an error. Errors match ErrInvalidConfig.
func ReadSecretFile(path string) (string, error) {
	b, err := readSmallFile(path, MaxSecretFileBytes)
	if err != nil {
		return "", configErr("secret file: %v", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", configErr("secret file %s is empty", path)
	}
	return s, nil
}

// Secret reads a client secret from the environment variable env (through
// lookupEnv; nil means os.LookupEnv) or from the file file, at most one of
// them set; neither set is "" and no error. Errors match ErrInvalidConfig
// and never carry the secret.
func Secret(lookupEnv func(string) (string, bool), env, file string) (string, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	switch {
	case env != "" && file != "":
		return "", configErr("set the secret's environment variable or its file, not both")
	case env != "":
		v, ok := lookupEnv(env)
		if !ok || v == "" {
			return "", configErr("environment variable %s is not set (or empty)", env)
		}
		return v, nil
	case file != "":
		return ReadSecretFile(file)
	}
	return "", nil
}

// Fingerprint names a private key by value: the hex SHA-256 of its PKCS #8
// form ("" for nil). A key parsed again from its file is a new value with
// the same fingerprint, so a reload can tell that nothing changed.
func Fingerprint(k crypto.Signer) string {
	if k == nil {
		return ""
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Sprintf("%p", k) // a key x509 cannot write: never equal to another
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func readSmallFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}
