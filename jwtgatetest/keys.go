package jwtgatetest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// SupportedAlgorithms returns the JWS algorithms an Issuer can sign with, in
// the order an Issuer uses when IssuerOptions.Algorithms is empty.
func SupportedAlgorithms() []string {
	return []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "EdDSA"}
}

// rsaBits is the modulus size of every RSA key: the smallest that jwtgate
// (and RFC 7518 §3.3) accepts, since generation time grows fast with it.
const rsaBits = 2048

func signingMethod(alg string) jwt.SigningMethod {
	switch alg {
	case "ES256":
		return jwt.SigningMethodES256
	case "ES384":
		return jwt.SigningMethodES384
	case "ES512":
		return jwt.SigningMethodES512
	case "RS256":
		return jwt.SigningMethodRS256
	case "RS384":
		return jwt.SigningMethodRS384
	case "RS512":
		return jwt.SigningMethodRS512
	case "PS256":
		return jwt.SigningMethodPS256
	case "EdDSA":
		return jwt.SigningMethodEdDSA
	}
	return nil
}

// rsaPool shares RSA private keys within the process: a 2048-bit key takes
// tens of milliseconds to generate (far more under -race), and a test suite
// with many issuers would spend most of its time there. Slot n is generated
// once, on first use, by whoever asks first; other slots generate in
// parallel. Two pools keep the keys an Issuer signs with apart from the
// "attacker" keys of the must-reject tokens, so a foreign signature can
// never verify by accident.
type rsaPool struct {
	mu    sync.Mutex // guards slots (not the generation, which runs in a slot's Once)
	slots []*rsaSlot
}

type rsaSlot struct {
	once sync.Once
	key  *rsa.PrivateKey
	err  error
}

func (p *rsaPool) get(n int) (*rsa.PrivateKey, error) {
	p.mu.Lock()
	for len(p.slots) <= n {
		p.slots = append(p.slots, new(rsaSlot))
	}
	s := p.slots[n]
	p.mu.Unlock()
	s.once.Do(func() { s.key, s.err = rsa.GenerateKey(rand.Reader, rsaBits) })
	return s.key, s.err
}

// The pools are process-wide on purpose (that is their point); they hold
// only keys, are safe for concurrent use and start no goroutine.
var (
	issuerRSA  rsaPool
	foreignRSA rsaPool
)

// key is one signing key of an Issuer.
type key struct {
	alg  string
	kid  string
	priv crypto.Signer
	jwk  jwkset.JWK // public part, as published
}

// generateKey makes a private key for alg. n numbers the issuer's RSA keys,
// so that its RS256, RS384, … keys are different pool slots.
func generateKey(alg string, fresh, foreign bool, n int) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256", "RS384", "RS512", "PS256":
		switch {
		case fresh:
			return rsa.GenerateKey(rand.Reader, rsaBits)
		case foreign:
			return foreignRSA.get(n)
		}
		return issuerRSA.get(n)
	case "EdDSA":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("jwtgatetest: unsupported algorithm %q", alg)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b)
}

// keySlot is what a new key needs from the issuer's counters, taken under
// the lock so that the slow part (RSA generation) can run without it.
type keySlot struct {
	alg string
	rsa int // the issuer's n-th RSA key: its pool slot
	kid string
}

// reserveLocked numbers a new key for alg. The kid's random part keeps
// issuers that share RSA material from sharing kids.
func (i *Issuer) reserveLocked(alg string) keySlot {
	ks := keySlot{alg: alg}
	if strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS") {
		ks.rsa = i.rsaCount
		i.rsaCount++
	}
	i.kidSeq++
	ks.kid = strings.ToLower(alg) + "-" + strconv.Itoa(i.kidSeq) + "-" + randomHex(4)
	return ks
}

// build generates the reserved key; it takes no lock.
func (ks keySlot) build(fresh bool) (*key, error) {
	priv, err := generateKey(ks.alg, fresh, false, ks.rsa)
	if err != nil {
		return nil, fmt.Errorf("jwtgatetest: generate %s key: %w", ks.alg, err)
	}
	j, err := publicJWK(priv, ks.alg, ks.kid)
	if err != nil {
		return nil, err
	}
	return &key{alg: ks.alg, kid: ks.kid, priv: priv, jwk: j}, nil
}

func publicJWK(priv crypto.Signer, alg, kid string) (jwkset.JWK, error) {
	j, err := jwkset.NewJWKFromKey(priv.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(alg), USE: jwkset.UseSig},
	})
	if err != nil {
		return jwkset.JWK{}, fmt.Errorf("jwtgatetest: encode %s key: %w", alg, err)
	}
	return j, nil
}

// activeLocked returns the key that signs alg now: the newest one.
func (i *Issuer) activeLocked(alg string) (*key, error) {
	for _, k := range i.keys {
		if k.alg == alg {
			return k, nil
		}
	}
	if !slices.Contains(i.opts.Algorithms, alg) {
		return nil, fmt.Errorf("jwtgatetest: algorithm %q is not one of the issuer's %v", alg, i.opts.Algorithms)
	}
	return nil, fmt.Errorf("jwtgatetest: no %s key left in the set (all removed)", alg)
}

// findLocked returns the key with kid, published or removed.
func (i *Issuer) findLocked(kid string) *key {
	for _, k := range i.keys {
		if k.kid == kid {
			return k
		}
	}
	for _, k := range i.removed {
		if k.kid == kid {
			return k
		}
	}
	return nil
}

// Rotate gives each of algs (all the issuer's algorithms when none is named)
// a new signing key. The new key is listed first in the JWK Set and signs
// from now on; the old one stays published, so tokens it signed keep
// verifying until Remove. Storages from Keys see the change at once; an
// HTTP client sees it on its next fetch (the ETag changes).
func (i *Issuer) Rotate(algs ...string) error {
	if len(algs) == 0 {
		algs = i.opts.Algorithms
	}
	for _, a := range algs {
		if !slices.Contains(i.opts.Algorithms, a) {
			return fmt.Errorf("jwtgatetest: Rotate: algorithm %q is not one of the issuer's %v", a, i.opts.Algorithms)
		}
	}
	i.mu.Lock()
	slots := make([]keySlot, len(algs))
	for n, a := range algs {
		slots[n] = i.reserveLocked(a)
	}
	i.mu.Unlock()
	// Generated without the lock: a fresh RSA key takes long enough to
	// stall every request to the server meanwhile.
	fresh := make([]*key, len(slots))
	for n, ks := range slots {
		k, err := ks.build(i.opts.FreshKeys)
		if err != nil {
			return err
		}
		fresh[n] = k
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(fresh, i.keys...)
	return i.changedLocked()
}

// Remove takes the key with kid out of the JWK Set, as a provider does at
// the end of a rotation. Tokens it signed no longer verify (jwtgate:
// ErrUnknownKID once the verifier's keys are refreshed). When it was the
// active key of its algorithm, the next newest key of that algorithm signs
// from now on; when none is left, minting with that algorithm fails.
func (i *Issuer) Remove(kid string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	at := slices.IndexFunc(i.keys, func(k *key) bool { return k.kid == kid })
	if at < 0 {
		return fmt.Errorf("jwtgatetest: Remove: no key %q in the set", kid)
	}
	i.removed = append(i.removed, i.keys[at])
	i.keys = slices.Delete(i.keys, at, at+1)
	return i.changedLocked()
}

// KID returns the kid of the key that signs alg now ("" for the issuer's
// first algorithm), or an error when alg is not the issuer's.
func (i *Issuer) KID(alg string) (string, error) {
	if alg == "" {
		alg = i.opts.Algorithms[0]
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	k, err := i.activeLocked(alg)
	if err != nil {
		return "", err
	}
	return k.kid, nil
}

// KIDs returns the kids of the published JWK Set, in its order (newest
// first).
func (i *Issuer) KIDs() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]string, len(i.keys))
	for n, k := range i.keys {
		out[n] = k.kid
	}
	return out
}

// PublicKey returns the public key with kid (published or removed), for
// tests that verify tokens with another library.
func (i *Issuer) PublicKey(kid string) (crypto.PublicKey, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	k := i.findLocked(kid)
	if k == nil {
		return nil, fmt.Errorf("jwtgatetest: no key %q", kid)
	}
	return k.priv.Public(), nil
}

// Storage returns an in-memory jwkset.Storage holding the issuer's public
// keys, for tests that need no HTTP. It follows the issuer: Rotate and
// Remove update it at once (so, unlike an HTTP cache, it never lags behind).
// Writes to it do not reach the issuer and are undone by its next change.
func (i *Issuer) Storage() (jwkset.Storage, error) {
	st := jwkset.NewMemoryStorage()
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := st.KeyReplaceAll(context.Background(), i.publicLocked()); err != nil {
		return nil, fmt.Errorf("jwtgatetest: fill storage: %w", err)
	}
	i.mirrors = append(i.mirrors, st)
	return st, nil
}

// Keys is Storage for a test: it fails t instead of returning an error.
func (i *Issuer) Keys(t TB) jwkset.Storage {
	t.Helper()
	st, err := i.Storage()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return st
}

func (i *Issuer) publicLocked() []jwkset.JWK {
	out := make([]jwkset.JWK, len(i.keys))
	for n, k := range i.keys {
		out[n] = k.jwk
	}
	return out
}

// changedLocked brings the mirrors and the HTTP validators up to date after
// the key set changed.
func (i *Issuer) changedLocked() error {
	i.lastModified = i.now().UTC().Truncate(1e9)
	if !i.lastModified.After(i.prevModified) {
		// Two changes within one second (or a clock standing still, as in
		// synctest) would otherwise look unmodified to If-Modified-Since.
		i.lastModified = i.prevModified.Add(1e9)
	}
	i.prevModified = i.lastModified
	i.etagSeq++
	pub := i.publicLocked()
	for _, m := range i.mirrors {
		if err := m.KeyReplaceAll(context.Background(), pub); err != nil {
			return fmt.Errorf("jwtgatetest: update storage: %w", err)
		}
	}
	return nil
}
