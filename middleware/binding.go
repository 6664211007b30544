package middleware

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// Confirmation is a token's cnf claim (RFC 7800): what the token is bound
// to.
type Confirmation struct {
	// JKT is cnf.jkt: the RFC 7638 thumbprint of the DPoP key (RFC 9449
	// §6.1). "": none.
	JKT string
	// X5TS256 is cnf["x5t#S256"]: the base64url SHA-256 of the client
	// certificate's DER (RFC 8705 §3.1). "": none.
	X5TS256 string
}

// confirmation is what decodeClaims read of cnf.
type confirmation struct {
	Confirmation
	present bool // a cnf claim, whatever its members (or not an object at all)
}

// Confirmation returns the token's cnf claim and whether it had one. A
// cnf that is not an object, or has neither member, reports true with
// empty fields.
func (c *Claims) Confirmation() (Confirmation, bool) { return c.cnf.Confirmation, c.cnf.present }

// JKT returns cnf.jkt, "" when the token is not DPoP-bound. On a request
// the Verifier let through with the DPoP scheme, it is the proof key's
// thumbprint.
func (c *Claims) JKT() string { return c.cnf.JKT }

// parseConfirmation reads a cnf value.
func parseConfirmation(val string) confirmation {
	cf := confirmation{present: true}
	walkObject(val, func(name, v string) bool {
		switch name {
		case "jkt":
			cf.JKT, _ = jsonString(v)
		case "x5t#S256":
			cf.X5TS256, _ = jsonString(v)
		}
		return true
	})
	return cf
}

var (
	errCertMissing  = &Error{kind: ErrBindingMismatch, desc: "token is certificate-bound and no client certificate was presented"}
	errCertMismatch = &Error{kind: ErrBindingMismatch, desc: "client certificate does not match the token's cnf"}
)

// checkBinding decides a verified token against the request's sender
// constraint, every time (a cache hit included): under the DPoP scheme a
// cnf.jkt and a valid proof for it, under any other a token without cnf,
// or (CertificateBoundTokens) one bound to the presented client
// certificate, or AllowSenderConstrained. It returns whether a proof was
// checked.
func (v *Verifier) checkBinding(w http.ResponseWriter, r *http.Request, token string, dpop bool, c *Claims) (bool, *Error) {
	cf := c.cnf
	if dpop {
		if cf.JKT == "" {
			return false, errNotDPoPBound
		}
		if err := v.checkProof(r, token, cf.JKT); err != nil {
			return false, err
		}
		if cf.X5TS256 != "" {
			if err := v.checkCert(r, cf.X5TS256); err != nil {
				return false, err
			}
		}
		if n := v.dpop.nonce; n != nil {
			w.Header().Set("DPoP-Nonce", n.current(v.cfg.Now()))
		}
		return true, nil
	}
	if !cf.present || v.cfg.AllowSenderConstrained {
		return false, nil
	}
	if cf.X5TS256 != "" && cf.JKT == "" && v.cfg.CertificateBoundTokens {
		return false, v.checkCert(r, cf.X5TS256)
	}
	// A token bound to a key (DPoP) or a certificate (mTLS) is worth
	// nothing to a thief only if its proof is checked; accepting it as a
	// bearer token would undo that (RFC 9449 §7.2, RFC 8705 §3).
	return false, errSenderConstrained
}

// checkCert compares the client certificate (the TLS connection's, or a
// trusted proxy's Client-Cert: never an untrusted header) with x5t.
func (v *Verifier) checkCert(r *http.Request, x5t string) *Error {
	der := v.fw.View(r).ClientCert
	if der == nil {
		return errCertMissing
	}
	sum := sha256.Sum256(der)
	if subtle.ConstantTimeCompare([]byte(b64String(sum[:])), []byte(x5t)) != 1 {
		return errCertMismatch
	}
	return nil
}

type jktKey struct{}

// ContextWithDPoPThumbprint returns a copy of ctx carrying the thumbprint
// of the key whose DPoP proof was accepted, as Handler does.
func ContextWithDPoPThumbprint(ctx context.Context, jkt string) context.Context {
	return context.WithValue(ctx, jktKey{}, jkt)
}

// DPoPThumbprintFromContext returns the RFC 7638 thumbprint of the key
// that signed the request's accepted DPoP proof, and false when the
// request was not DPoP (a bearer token, or no Handler).
func DPoPThumbprintFromContext(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(jktKey{}).(string)
	return s, ok && s != ""
}
