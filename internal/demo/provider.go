package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// Paths the provider's Handler serves, relative to the issuer URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
	TokenPath     = "/token"
)

// ErrInvalidConfig is wrapped by every error NewProvider returns for a bad config.
var ErrInvalidConfig = errors.New("demo: invalid provider config")

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
// document and a JWK Set, and mints ES256 tokens. It is a thin layer over
// jwtgatetest.Issuer (the repository's one identity provider), adding a
// timed rotation and a /token endpoint. Its signing key rotates lazily:
// whenever the provider is used after RotateEvery has passed, a new key
// becomes active and the old one stays published for Grace. There is no
// background goroutine, so there is nothing to close.
//
// The zero value is not usable; call NewProvider. Safe for concurrent use.
type Provider struct {
	cfg     ProviderConfig
	idp     *jwtgatetest.Issuer // serves no socket of its own (IssuerOptions.URL)
	handler http.Handler

	mu   sync.Mutex   // guards keys and the rotations it applies to idp
	keys []*keyPeriod // newest (active) first
}

// keyPeriod is when one of idp's keys is the active one and when it stops
// being published.
type keyPeriod struct {
	kid       string
	activated time.Time
	retired   time.Time // zero while active
}

// NewProvider validates cfg, fills its defaults and generates the first key.
func NewProvider(cfg ProviderConfig) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: issuer %q is not an absolute http(s) URL", ErrInvalidConfig, cfg.Issuer)
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.RotateEvery < 0 || cfg.Grace < 0 || cfg.TokenTTL < 0 || cfg.MaxAge < 0 {
		return nil, fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
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
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{
		Algorithms: []string{"ES256"},
		URL:        cfg.Issuer,
		TokenTTL:   cfg.TokenTTL,
		Now:        cfg.Now,
		Discovery:  map[string]any{"token_endpoint": cfg.Issuer + TokenPath},
	})
	if err != nil {
		if errors.Is(err, jwtgatetest.ErrOptions) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		return nil, fmt.Errorf("demo: %w", err)
	}
	nosniff := http.Header{"X-Content-Type-Options": {"nosniff"}}
	if err := idp.SetDiscovery(jwtgatetest.Behavior{Header: nosniff}); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := idp.SetJWKS(jwtgatetest.Behavior{Header: nosniff,
		CacheControl: "public, max-age=" + strconv.Itoa(int(cfg.MaxAge/time.Second))}); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	kid, err := idp.KID("ES256")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	p := &Provider{cfg: cfg, idp: idp, keys: []*keyPeriod{{kid: kid, activated: cfg.Now()}}}
	p.handler = p.newHandler()
	return p, nil
}

// Issuer returns the configured issuer, without a trailing slash.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// RotateEvery returns how long a signing key stays active.
func (p *Provider) RotateEvery() time.Duration { return p.cfg.RotateEvery }

// TokenTTL returns the default lifetime of minted tokens.
func (p *Provider) TokenTTL() time.Duration { return p.cfg.TokenTTL }

// JWKSURL returns the URL of the JWK Set.
func (p *Provider) JWKSURL() string { return p.idp.JWKSURL() }

// Rotate makes a fresh key the active one now; the previous key stays
// published for Grace.
func (p *Provider) Rotate() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rotateLocked(p.cfg.Now())
}

func (p *Provider) rotateLocked(at time.Time) error {
	if err := p.idp.Rotate(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	kid, err := p.idp.KID("ES256")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	p.keys[0].retired = at
	p.keys = append([]*keyPeriod{{kid: kid, activated: at}}, p.keys...)
	return nil
}

// advanceLocked applies every rotation that is due at now and unpublishes
// keys whose grace has ended. It returns the active key's kid.
func (p *Provider) advanceLocked(now time.Time) (string, error) {
	if due := p.keys[0].activated.Add(p.cfg.RotateEvery); !now.Before(due) {
		// One rotation, dated now: after a long idle spell, keys that
		// nobody ever saw need not be generated.
		if err := p.rotateLocked(now); err != nil {
			return "", err
		}
	}
	kept := p.keys[:1]
	for _, k := range p.keys[1:] {
		if now.Before(k.retired.Add(p.cfg.Grace)) {
			kept = append(kept, k)
			continue
		}
		if err := p.idp.Remove(k.kid); err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
	}
	p.keys = kept
	return p.keys[0].kid, nil
}

func (p *Provider) advance() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.advanceLocked(p.cfg.Now())
}

// ActiveKID returns the kid of the key that signs tokens now.
func (p *Provider) ActiveKID() (string, error) { return p.advance() }

// standardClaim reports whether Mint sets the claim itself, so that
// Token.Extra cannot replace it.
func standardClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "iat", "nbf", "exp", "scope":
		return true
	}
	return false
}

// Mint signs a token with the active key.
func (p *Provider) Mint(t Token) (string, error) {
	now := p.cfg.Now()
	p.mu.Lock()
	kid, err := p.advanceLocked(now)
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
	extra := make(map[string]any, len(t.Extra)+4)
	for name, v := range t.Extra {
		if !standardClaim(name) {
			extra[name] = v
		}
	}
	if _, ok := t.Extra["jti"]; !ok {
		extra["jti"] = nil // the demo's tokens carry no jti unless asked
	}
	extra["sub"] = t.Subject // even "": the kit's default subject is not the demo's
	c := jwtgatetest.Claims{IssuedAt: now, NotBefore: now, ExpiresAt: exp, Extra: extra}
	switch len(t.Audience) {
	case 0:
		extra["aud"] = nil
	case 1:
		c.Audience = t.Audience[0]
	default:
		c.Audiences = t.Audience
	}
	if t.Scope != "" {
		extra["scope"] = t.Scope
	}
	// Signed with the key that was active at now, even if a concurrent
	// rotation has moved on since.
	s, err := p.idp.Sign(c, jwtgatetest.MintOptions{Key: kid, Type: t.Type})
	if err != nil {
		return "", fmt.Errorf("demo: sign: %w", err)
	}
	return s, nil
}

// Handler serves the discovery document, the JWK Set (with Cache-Control
// and ETag, answering If-None-Match with 304) and a /token endpoint that
// mints a token from the query parameters sub, scope and aud.
func (p *Provider) Handler() http.Handler { return p.handler }

func (p *Provider) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, p.serveIssuer)
	mux.HandleFunc("GET "+JWKSPath, p.serveIssuer)
	mux.HandleFunc("GET "+TokenPath, p.serveToken)
	mux.HandleFunc("POST "+TokenPath, p.serveToken)
	return mux
}

// serveIssuer applies the rotations due now, then lets the kit's issuer
// answer.
func (p *Provider) serveIssuer(w http.ResponseWriter, r *http.Request) {
	if _, err := p.advance(); err != nil {
		http.Error(w, "demo: key set unavailable", http.StatusInternalServerError)
		return
	}
	p.idp.Handler().ServeHTTP(w, r)
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
