package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Paths the provider's Handler serves, relative to the issuer URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
	TokenPath     = "/token"
)

// ErrConfig is wrapped by every error NewProvider returns for a bad config.
var ErrConfig = errors.New("demo: invalid provider config")

// maxParam bounds each /token query parameter: the endpoint is a demo, but
// it still must not let a caller make it sign megabytes.
const maxParam = 256

// ProviderConfig configures a Provider. Only Issuer is required.
type ProviderConfig struct {
	// Issuer is the `iss` of every token and the base URL of the discovery
	// document and JWK Set: the URL where Handler is served, without a
	// trailing slash. Required.
	Issuer string
	// RotateEvery is how long a signing key stays the active one. 0 means 5m.
	RotateEvery time.Duration
	// Grace is how long a retired key stays published, so tokens it signed
	// keep verifying. 0 means TokenTTL + 1m, which outlives every token the
	// key signed with the default lifetime.
	Grace time.Duration
	// TokenTTL is the lifetime of minted tokens that don't set their own.
	// 0 means 30m.
	TokenTTL time.Duration
	// MaxAge is the JWK Set's Cache-Control max-age. 0 means 60s.
	MaxAge time.Duration
	// DefaultAudience and DefaultScope fill /token requests that omit aud
	// or scope. Empty means the token has none.
	DefaultAudience string
	DefaultScope    string
	// Now is the clock. nil means time.Now.
	Now func() time.Time
}

// Token describes a token to mint.
type Token struct {
	Subject  string
	Audience []string
	// Scope is the space-separated `scope` claim (RFC 8693 §4.2). Empty: none.
	Scope string
	// TTL is the lifetime from now. 0 means the provider's TokenTTL.
	TTL time.Duration
	// ExpiresAt, when set, overrides TTL (tests mint expired tokens with it).
	ExpiresAt time.Time
	// Extra claims, added as they are; they never override the standard ones.
	Extra map[string]any
	// Type is the typ header ("at+jwt" for an RFC 9068 access token).
	// Empty means "JWT".
	Type string
}

// Provider is a demo OpenID Connect identity provider: it serves a discovery
// document and a JWK Set, and mints ES256 tokens. Its signing key rotates
// lazily: whenever the provider is used after RotateEvery has passed, a new
// key becomes active and the old one stays published for Grace. There is no
// background goroutine, so there is nothing to close.
//
// The zero value is not usable; call NewProvider. Safe for concurrent use.
type Provider struct {
	cfg ProviderConfig

	mu   sync.Mutex    // guards keys
	keys []*signingKey // newest (active) first
}

type signingKey struct {
	kid       string
	priv      *ecdsa.PrivateKey
	jwk       jwkset.JWKMarshal
	activated time.Time
	retired   time.Time // zero while active
}

// NewProvider validates cfg, fills its defaults and generates the first key.
func NewProvider(cfg ProviderConfig) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: issuer %q is not an absolute http(s) URL", ErrConfig, cfg.Issuer)
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.RotateEvery < 0 || cfg.Grace < 0 || cfg.TokenTTL < 0 || cfg.MaxAge < 0 {
		return nil, fmt.Errorf("%w: durations must not be negative", ErrConfig)
	}
	if cfg.RotateEvery == 0 {
		cfg.RotateEvery = 5 * time.Minute
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 30 * time.Minute
	}
	if cfg.Grace == 0 {
		cfg.Grace = cfg.TokenTTL + time.Minute
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Provider{cfg: cfg}
	k, err := newSigningKey(cfg.Now())
	if err != nil {
		return nil, err
	}
	p.keys = []*signingKey{k}
	return p, nil
}

func newSigningKey(now time.Time) (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("demo: generate key: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	kid := "demo-" + hex.EncodeToString(b[:])
	j, err := jwkset.NewJWKFromKey(&priv.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256, USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, fmt.Errorf("demo: encode key: %w", err)
	}
	return &signingKey{kid: kid, priv: priv, jwk: j.Marshal(), activated: now}, nil
}

// Issuer returns the configured issuer, without a trailing slash.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// RotateEvery returns how long a signing key stays active.
func (p *Provider) RotateEvery() time.Duration { return p.cfg.RotateEvery }

// TokenTTL returns the default lifetime of minted tokens.
func (p *Provider) TokenTTL() time.Duration { return p.cfg.TokenTTL }

// JWKSURL returns the URL of the JWK Set.
func (p *Provider) JWKSURL() string { return p.cfg.Issuer + JWKSPath }

// Rotate makes a fresh key the active one now; the previous key stays
// published for Grace.
func (p *Provider) Rotate() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rotateLocked(p.cfg.Now())
}

func (p *Provider) rotateLocked(at time.Time) error {
	k, err := newSigningKey(at)
	if err != nil {
		return err
	}
	p.keys[0].retired = at
	p.keys = append([]*signingKey{k}, p.keys...)
	return nil
}

// advanceLocked applies every rotation that is due at now and drops keys
// whose grace has ended. It returns the active key.
func (p *Provider) advanceLocked(now time.Time) (*signingKey, error) {
	if due := p.keys[0].activated.Add(p.cfg.RotateEvery); !now.Before(due) {
		// One rotation, dated now: after a long idle spell, keys that
		// nobody ever saw need not be generated.
		if err := p.rotateLocked(now); err != nil {
			return nil, err
		}
	}
	kept := p.keys[:1]
	for _, k := range p.keys[1:] {
		if now.Before(k.retired.Add(p.cfg.Grace)) {
			kept = append(kept, k)
		}
	}
	p.keys = kept
	return p.keys[0], nil
}

// ActiveKID returns the kid of the key that signs tokens now.
func (p *Provider) ActiveKID() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, err := p.advanceLocked(p.cfg.Now())
	if err != nil {
		return "", err
	}
	return k.kid, nil
}

// Mint signs a token with the active key.
func (p *Provider) Mint(t Token) (string, error) {
	now := p.cfg.Now()
	p.mu.Lock()
	k, err := p.advanceLocked(now)
	p.mu.Unlock()
	if err != nil {
		return "", err
	}
	exp := t.ExpiresAt
	if exp.IsZero() {
		ttl := t.TTL
		if ttl <= 0 {
			ttl = p.cfg.TokenTTL
		}
		exp = now.Add(ttl)
	}
	claims := jwt.MapClaims{}
	for name, v := range t.Extra {
		claims[name] = v
	}
	claims["iss"] = p.cfg.Issuer
	claims["sub"] = t.Subject
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = exp.Unix()
	switch len(t.Audience) {
	case 0:
		delete(claims, "aud")
	case 1:
		claims["aud"] = t.Audience[0]
	default:
		claims["aud"] = t.Audience
	}
	if t.Scope != "" {
		claims["scope"] = t.Scope
	} else {
		delete(claims, "scope")
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = k.kid
	if t.Type != "" {
		tok.Header["typ"] = t.Type
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("demo: sign: %w", err)
	}
	return s, nil
}

// jwks returns the published key set (active key first) and its ETag.
func (p *Provider) jwks() (jwkset.JWKSMarshal, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.advanceLocked(p.cfg.Now()); err != nil {
		return jwkset.JWKSMarshal{}, "", err
	}
	set := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, 0, len(p.keys))}
	h := sha256.New()
	for _, k := range p.keys {
		set.Keys = append(set.Keys, k.jwk)
		h.Write([]byte(k.kid))
		h.Write([]byte{0})
	}
	return set, `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`, nil
}

// Handler serves the discovery document, the JWK Set (with Cache-Control
// and ETag, answering If-None-Match with 304) and a /token endpoint that
// mints a token from the query parameters sub, scope and aud.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, p.serveDiscovery)
	mux.HandleFunc("GET "+JWKSPath, p.serveJWKS)
	mux.HandleFunc("GET "+TokenPath, p.serveToken)
	mux.HandleFunc("POST "+TokenPath, p.serveToken)
	return mux
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.cfg.Issuer,
		"jwks_uri":                              p.cfg.Issuer + JWKSPath,
		"token_endpoint":                        p.cfg.Issuer + TokenPath,
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	set, etag, err := p.jwks()
	if err != nil {
		http.Error(w, "demo: key set unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(p.cfg.MaxAge/time.Second)))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	get := func(name, def string) (string, bool) {
		if !q.Has(name) {
			return def, true
		}
		v := q.Get(name)
		return v, len(v) <= maxParam
	}
	sub, ok1 := get("sub", "demo-user")
	scope, ok2 := get("scope", p.cfg.DefaultScope)
	aud, ok3 := get("aud", p.cfg.DefaultAudience)
	if !ok1 || !ok2 || !ok3 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	t := Token{Subject: sub, Scope: scope}
	if aud != "" {
		t.Audience = []string{aud}
	}
	tok, err := p.Mint(t)
	if err != nil {
		http.Error(w, "demo: cannot mint", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(p.cfg.TokenTTL / time.Second),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a failed write means the client left
}
