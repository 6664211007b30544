package internaltoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

// Defaults of KeyRingConfig.
const (
	DefaultCheckInterval = 5 * time.Second
	maxKeyFileBytes      = 64 << 10
	maxKeys              = 100
)

var (
	// ErrInvalidConfig is wrapped by every configuration error.
	ErrInvalidConfig = errors.New("internaltoken: invalid configuration")
	// ErrNoKey: no key file loads (at New: a configuration error).
	ErrNoKey = errors.New("internaltoken: no usable signing key")
	// ErrSign is wrapped by every error Sign and RoundTrip return: no
	// internal token, and nothing was sent upstream.
	ErrSign = errors.New("internaltoken: no internal token")
	// ErrNoClaims: the request carries no verified claims to sign from.
	ErrNoClaims = errors.New("internaltoken: no verified claims")
)

// KeyRingConfig says where the signing keys are. Set Files or Dir.
type KeyRingConfig struct {
	// Files are PEM private keys (PKCS #8, or SEC 1 "EC PRIVATE KEY"):
	// ECDSA P-256 (ES256) or Ed25519 (EdDSA). The last one signs; every
	// one is published.
	Files []string
	// Dir holds the key files instead: every regular file whose name does
	// not start with "." (a Kubernetes Secret's ..data links are skipped).
	// The file whose name sorts last signs (name them by date:
	// 2026-01.pem, 2026-04.pem); every one is published.
	Dir string
	// CheckInterval is how often the files are looked at again, on the
	// next Sign or JWK Set request after it (no goroutine): a new file is
	// used at once, and a removed one stays published until the last
	// token it signed has expired. 0 means 5s.
	CheckInterval time.Duration
	// Now is the clock. nil means time.Now.
	Now func() time.Time
	// Logger receives key files that do not load. nil means
	// slog.Default().
	Logger *slog.Logger
}

// KeyRing holds the gateway's signing keys: the newest signs, every one
// published while a token it signed may still be valid. Create it with
// NewKeyRing; safe for concurrent use.
type KeyRing struct {
	cfg  KeyRingConfig
	snap atomic.Pointer[ringSnapshot]

	reloadMu sync.Mutex // one reload at a time; signers never wait for it (TryLock)

	mu      sync.Mutex          // guards byPath, retired
	byPath  map[string]*ringKey // the last good key of each file
	retired map[string]*ringKey // by kid: file gone, tokens it signed maybe still valid
	checked atomic.Int64        // UnixNano of the last look at the files
}

// ringKey is one signing key.
type ringKey struct {
	kid     string
	alg     string
	priv    crypto.Signer
	jwk     jwkset.JWKMarshal
	lastExp atomic.Int64 // UnixNano: the latest exp of a token it signed
	// retiredAt is when its file was found gone (guarded by KeyRing.mu);
	// zero while it has one.
	retiredAt time.Time
}

// ringSnapshot is what signers and the JWK Set read: immutable.
type ringSnapshot struct {
	signing *ringKey
	jwks    []byte // the published JWK Set
	algs    []string
}

// NewKeyRing loads the keys. A file that does not load is an error here
// (later it is logged, and the file's last good key stays).
func NewKeyRing(cfg KeyRingConfig) (*KeyRing, error) {
	if (len(cfg.Files) == 0) == (cfg.Dir == "") {
		return nil, fmt.Errorf("%w: set key files or a key directory (one of them)", ErrInvalidConfig)
	}
	if cfg.CheckInterval < 0 {
		return nil, fmt.Errorf("%w: check interval %v must not be negative", ErrInvalidConfig, cfg.CheckInterval)
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Files = slices.Clone(cfg.Files)
	k := &KeyRing{cfg: cfg, byPath: make(map[string]*ringKey), retired: make(map[string]*ringKey)}
	if err := k.reload(true); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload looks at the key files now. The file check is otherwise lazy
// (CheckInterval); a program calls this on SIGHUP.
func (k *KeyRing) Reload() error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	return k.reload(false)
}

// current returns the snapshot, looking at the files first when
// CheckInterval has passed and no one else is.
func (k *KeyRing) current() *ringSnapshot {
	now := k.cfg.Now()
	if now.UnixNano()-k.checked.Load() >= int64(k.cfg.CheckInterval) && k.reloadMu.TryLock() {
		if err := k.reload(false); err != nil {
			k.cfg.Logger.Warn("internaltoken: key files", "err", err)
		}
		k.reloadMu.Unlock()
	}
	return k.snap.Load()
}

// reload reads the files and builds a new snapshot. strict (at New) makes
// a file that does not load an error; otherwise its last good key stays.
func (k *KeyRing) reload(strict bool) error {
	now := k.cfg.Now()
	k.checked.Store(now.UnixNano())
	paths, err := k.paths()
	if err != nil {
		return err // the last snapshot stays
	}
	var problems []error
	k.mu.Lock()
	defer k.mu.Unlock()
	current := make(map[string]*ringKey, len(paths))
	var order []*ringKey
	for _, p := range paths {
		rk, err := loadKey(p)
		if err != nil {
			problems = append(problems, err)
			rk = k.byPath[p] // the last good one, if any
			if rk == nil {
				continue
			}
		} else if old := k.keyByKID(rk.kid); old != nil {
			rk = old // keep its lastExp
		}
		current[p] = rk
		order = append(order, rk)
	}
	if strict && len(problems) > 0 {
		return errors.Join(problems...)
	}
	if len(order) == 0 {
		return fmt.Errorf("%w: %w", ErrNoKey, errors.Join(problems...))
	}
	// Keys whose file is gone stay published while a token they signed
	// may be valid.
	inUse := make(map[string]bool, len(order))
	for _, rk := range order {
		inUse[rk.kid] = true
		rk.retiredAt = time.Time{}
		delete(k.retired, rk.kid)
	}
	for _, rk := range k.byPath {
		if !inUse[rk.kid] && k.retired[rk.kid] == nil {
			rk.retiredAt = now
			k.retired[rk.kid] = rk
		}
	}
	for kid, rk := range k.retired {
		// A signer that loaded the snapshot before this reload may not
		// have noted its token's exp yet: keep a retired key at least
		// one CheckInterval, then while a token it signed is valid.
		graced := now.Sub(rk.retiredAt) >= k.cfg.CheckInterval
		if graced && rk.lastExp.Load() <= now.UnixNano() || len(k.retired) > maxKeys {
			delete(k.retired, kid)
		}
	}
	k.byPath = current
	published := slices.Clone(order)
	for _, rk := range k.retired {
		published = append(published, rk)
	}
	slices.SortFunc(published, func(a, b *ringKey) int { return strings.Compare(a.kid, b.kid) })
	published = slices.CompactFunc(published, func(a, b *ringKey) bool { return a.kid == b.kid })
	set := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, 0, len(published))}
	var algs []string
	for _, rk := range published {
		set.Keys = append(set.Keys, rk.jwk)
		algs = append(algs, rk.alg)
	}
	slices.Sort(algs)
	body, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("internaltoken: JWK Set: %w", err)
	}
	k.snap.Store(&ringSnapshot{signing: order[len(order)-1], jwks: body, algs: slices.Compact(algs)})
	return errors.Join(problems...)
}

// keyByKID finds a known key (current or retired); k.mu is held.
func (k *KeyRing) keyByKID(kid string) *ringKey {
	for _, rk := range k.byPath {
		if rk.kid == kid {
			return rk
		}
	}
	return k.retired[kid]
}

// paths lists the key files in signing order (the last signs).
func (k *KeyRing) paths() ([]string, error) {
	if len(k.cfg.Files) > 0 {
		return k.cfg.Files, nil
	}
	entries, err := os.ReadDir(k.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: key directory: %w", ErrNoKey, err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(k.cfg.Dir, e.Name())
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, p)
		if len(out) > maxKeys {
			return nil, fmt.Errorf("%w: key directory %s holds more than %d files", ErrNoKey, k.cfg.Dir, maxKeys)
		}
	}
	slices.Sort(out) // ReadDir sorts already; the order is the contract
	return out, nil
}

// loadKey reads one PEM private key file.
func loadKey(path string) (*ringKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("internaltoken: key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("internaltoken: key file %s: %w", path, err)
	}
	if len(b) > maxKeyFileBytes {
		return nil, fmt.Errorf("internaltoken: key file %s: larger than %d bytes", path, maxKeyFileBytes)
	}
	priv, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("internaltoken: key file %s: %w", path, err)
	}
	return newRingKey(priv)
}

// ParsePrivateKey reads a PEM private key the KeyRing can sign with:
// ECDSA P-256 or Ed25519, PKCS #8 or (ECDSA) SEC 1.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	// The PEM forms are the OAuth client's (internal/oauthclient): one
	// parser for every key the gateway reads. The ring narrows the kinds:
	// what it publishes, every verifier behind the gateway must accept.
	key, err := oauthclient.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%w: key %T: want ECDSA P-256 (ES256) or Ed25519 (EdDSA)", ErrInvalidConfig, key)
}

func newRingKey(priv crypto.Signer) (*ringKey, error) {
	alg := "ES256"
	if _, ok := priv.(ed25519.PrivateKey); ok {
		alg = "EdDSA"
	}
	j, err := jwkset.NewJWKFromKey(priv.Public(), jwkset.JWKOptions{})
	if err != nil {
		return nil, fmt.Errorf("internaltoken: public key: %w", err)
	}
	kid := thumbprint(j.Marshal())
	j, err = jwkset.NewJWKFromKey(priv.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(alg), USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, fmt.Errorf("internaltoken: public key: %w", err)
	}
	return &ringKey{kid: kid, alg: alg, priv: priv, jwk: j.Marshal()}, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of an EC or OKP public
// key: the kid, so one key has one kid wherever it is loaded.
func thumbprint(m jwkset.JWKMarshal) string {
	var canon string
	switch m.KTY {
	case jwkset.KtyEC:
		canon = `{"crv":"` + string(m.CRV) + `","kty":"EC","x":"` + m.X + `","y":"` + m.Y + `"}`
	default:
		canon = `{"crv":"` + string(m.CRV) + `","kty":"OKP","x":"` + m.X + `"}`
	}
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
