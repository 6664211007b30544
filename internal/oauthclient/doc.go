// Package oauthclient is the gateway's one OAuth client toolkit, shared
// by package exchange (RFC 8693 token exchange, RFC 7523 jwt-bearer) and
// package introspect (RFC 7662), and by the gateway's configuration
// loading:
//
//   - client authentication (client_secret_basic, client_secret_post,
//     private_key_jwt, none) applied to a form POST: Authenticator;
//   - the private_key_jwt assertion, its algorithm chosen from the key
//     (SigningAlg) and its aud the issuer by default (Audience, RFC 10070);
//   - authorization-server discovery, RFC 8414 and OpenID Connect, with
//     the issuer check of RFC 8414 §3.3: Discoverer, ParseMetadata;
//   - endpoint and issuer URL rules: CheckEndpoint, CheckIssuer;
//   - secrets and private keys from files or the environment:
//     ParsePrivateKey, ReadPrivateKey, ReadSecretFile, Secret,
//     Fingerprint.
//
// Quick start:
//
//	key, err := oauthclient.ReadPrivateKey("/run/secrets/client.pem")
//	auth, err := oauthclient.NewAuthenticator(oauthclient.Credentials{
//		Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gateway",
//		PrivateKey: key, Issuer: "https://as.example"})
//	form := url.Values{"grant_type": {"client_credentials"}}
//	req, _ := http.NewRequest(http.MethodPost, tokenURL, nil)
//	err = auth.Apply(req, form, tokenURL) // then encode form into req's body
//
// Configuration errors match ErrInvalidConfig and read without a prefix of
// their own, so that a caller wraps them in its package's sentinel;
// discovery errors match ErrDiscovery.
package oauthclient
