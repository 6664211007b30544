package middleware

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/internal/jwkcheck"
)

// The request path needs only these from a key provider. Ready,
// Generation and KeyRecheck are optional capabilities (a *cache.Cache has
// all three), found by type assertion the way httputil.ReverseProxy finds
// http.Hijacker.
type (
	keyReader interface {
		KeyRead(ctx context.Context, kid string) (jwkset.JWK, error)
		KeyReadAll(ctx context.Context) ([]jwkset.JWK, error)
	}
	readier interface{ Ready() bool }
	// generationer: Generation increases whenever the served key set's
	// content changes. Verified tokens remember it; a hit under a newer
	// generation re-checks that its key is still served.
	generationer interface{ Generation() uint64 }
	// rechecker: KeyRecheck reads a kid again from a set fresh enough to
	// settle a doubt about its key (a *cache.Cache refetches, at most once
	// a second and shared by all callers, when its set is older than
	// that). Asked once when a token's signature fails with the key served
	// under its kid: some providers reuse a kid for new key material.
	rechecker interface {
		KeyRecheck(ctx context.Context, kid string) (jwkset.JWK, error)
	}
)

// keySource is one key provider with its capabilities resolved once in New.
type keySource struct {
	store   keyReader
	ready   readier      // nil: always ready
	gen     generationer // nil: every cache hit re-checks its key
	recheck rechecker    // nil: a failed signature is final
}

func newKeySource(s jwkset.Storage) *keySource {
	ks := &keySource{store: s}
	ks.ready, _ = s.(readier)
	ks.gen, _ = s.(generationer)
	ks.recheck, _ = s.(rechecker)
	return ks
}

// generation returns the provider's generation, and false when it has none.
func (ks *keySource) generation() (uint64, bool) {
	if ks.gen == nil {
		return 0, false
	}
	return ks.gen.Generation(), true
}

// lookup finds the key for j and applies the checks keyfunc/v3 applies (the
// JWK's alg must match the token's) and those it leaves out: kty and curve
// must fit alg, use must be "sig", key_ops must include "verify", RSA keys
// must be big enough. It does its own look-up rather than going through
// keyfunc.Keyfunc, because that needs a *jwt.Token with a header map (the
// allocations the cold path is trying to avoid) and would hand an "oct" key
// from a JWK Set to an HS* token, which must never happen here.
func (v *Verifier) lookup(ctx context.Context, ks *keySource, j *jws) (any, *Error) {
	if ks.ready != nil && !ks.ready.Ready() {
		return nil, errKeysNotReady
	}
	if j.hasKID {
		jwk, err := ks.store.KeyRead(ctx, j.kid)
		if err != nil {
			return nil, storageErr(err)
		}
		return v.keyOf(ctx, ks, j, jwk)
	}
	all, err := ks.store.KeyReadAll(ctx)
	if err != nil {
		return nil, storageErr(err)
	}
	var found any
	for _, jwk := range all {
		if k, e := v.usableKey(jwk, j.spec); e == nil {
			if found != nil {
				return nil, &Error{kind: ErrUnknownKID, desc: "token has no kid and several keys fit"}
			}
			found = k
		}
	}
	if found == nil {
		return nil, errUnknownKID
	}
	return found, nil
}

// keyOf returns j's key given jwk, the provider's key under j's kid.
func (v *Verifier) keyOf(ctx context.Context, ks *keySource, j *jws, jwk jwkset.JWK) (any, *Error) {
	key, uerr := v.usableKey(jwk, j.spec)
	if uerr == nil || jwk.Marshal().KTY == j.spec.kty {
		return key, uerr
	}
	// Some providers publish one kid for keys of several types (RFC 7520
	// §3 does); KeyRead returns just one of them. Off the hot path (the
	// scan is bounded by the provider's key count), look for the one key
	// under this kid that fits the alg; none or several is a deterministic
	// rejection.
	return v.uniqueUsable(ctx, ks, j, uerr)
}

// recheck is for a token whose signature did not verify with key, the key
// ks serves under its kid. If ks can read the kid again from a fresh set
// (KeyRecheck), recheck asks once and returns the key now served under
// it, and true, when that is a different key. Otherwise (no such
// capability, no kid, an error, the same key) it returns false and the
// signature failure stands: with no fresh set to judge by (the provider
// is failing) the key the token named and failed is still the best
// evidence, and a forged signature stays 401.
func (v *Verifier) recheck(ctx context.Context, ks *keySource, j *jws, key any) (any, bool) {
	if ks == nil || ks.recheck == nil || !j.hasKID {
		return nil, false
	}
	jwk, err := ks.recheck.KeyRecheck(ctx, j.kid)
	if err != nil {
		return nil, false
	}
	k, kerr := v.keyOf(ctx, ks, j, jwk)
	if kerr != nil || sameKey(k, key) {
		return nil, false
	}
	return k, true
}

// findServed finds j's key among the keys the provider serves now, without
// any side effect (no unknown-kid refresh).
func (v *Verifier) findServed(ctx context.Context, ks *keySource, j *jws) (any, *Error) {
	return v.uniqueUsable(ctx, ks, j, errUnknownKID)
}

func (v *Verifier) uniqueUsable(ctx context.Context, ks *keySource, j *jws, first *Error) (any, *Error) {
	all, err := ks.store.KeyReadAll(ctx)
	if err != nil {
		return nil, storageErr(err)
	}
	var found any
	n := 0
	for _, jwk := range all {
		if jwk.Marshal().KID != j.kid {
			continue
		}
		if k, e := v.usableKey(jwk, j.spec); e == nil {
			found, n = k, n+1
		}
	}
	if n != 1 {
		return nil, first
	}
	return found, nil
}

// keysUnavailable reports whether a key provider's error says it has no
// keys to judge with (cache.ErrKeysUnavailable does), found by capability
// so that this package need not import the cache's.
func keysUnavailable(err error) bool {
	u, ok := errors.AsType[interface {
		error
		KeysUnavailable() bool
	}](err)
	return ok && u.KeysUnavailable()
}

func storageErr(err error) *Error {
	switch {
	case keysUnavailable(err):
		// Checked first: a kid the cache could not look for because the
		// provider is failing wraps both, and the client did nothing wrong.
		return &Error{kind: ErrKeysUnavailable, desc: "keys unavailable", cause: err}
	case errors.Is(err, jwkset.ErrKeyNotFound):
		return errUnknownKID
	}
	// Anything else from the key provider is infrastructure trouble, not the
	// client's fault.
	return &Error{kind: ErrKeysUnavailable, desc: "keys unavailable", cause: err}
}

// usableKey returns jwk's public key if it may verify spec's algorithm.
func (v *Verifier) usableKey(jwk jwkset.JWK, spec *algSpec) (any, *Error) {
	m := jwk.Marshal()
	if m.KTY != spec.kty || spec.hmac {
		return nil, errKeyUnusable
	}
	if m.ALG != "" && string(m.ALG) != spec.name && (spec.jwkAlg == "" || string(m.ALG) != spec.jwkAlg) {
		return nil, errKeyUnusable
	}
	// The rules the key cache applies when it parses a set, applied here
	// too: a Verifier may be handed any jwkset.Storage, and what it verifies
	// with must not depend on which. A few comparisons (benchmarked: no
	// measurable cost on the cold path), so no memo is needed.
	if jwkcheck.MarshalProblem(&m) != "" || jwkcheck.KeyProblem(jwk) != "" {
		return nil, errKeyUnusable
	}
	switch k := jwk.Key().(type) {
	case *rsa.PublicKey:
		if spec.kty == jwkset.KtyRSA && v.rsaCheck.usable(k, v.cfg.MinRSABits) {
			return k, nil
		}
	case *ecdsa.PublicKey:
		if spec.kty == jwkset.KtyEC && k.Curve != nil && k.Curve.Params().Name == curveName[spec.crv] {
			return k, nil
		}
	case ed25519.PublicKey:
		if spec.kty == jwkset.KtyOKP && m.CRV == jwkset.CrvEd25519 && len(k) == ed25519.PublicKeySize {
			return k, nil
		}
	}
	return nil, errKeyUnusable
}

var curveName = map[jwkset.CRV]string{
	jwkset.CrvP256: "P-256",
	jwkset.CrvP384: "P-384",
	jwkset.CrvP521: "P-521",
}

// sameKey reports whether two public keys are the same key.
func sameKey(a, b any) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := a.(equaler); ok {
		return e.Equal(b)
	}
	return false
}
