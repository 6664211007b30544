package introspect

import (
	"crypto"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

// ParsePrivateKey reads a PEM private key (PKCS #8, PKCS #1 RSA or SEC 1
// EC) for Config.PrivateKey: RSA of 2048 bits or more, ECDSA on P-256,
// P-384 or P-521, or Ed25519.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	k, err := oauthclient.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, configErr("%w", err)
	}
	return k, nil
}
