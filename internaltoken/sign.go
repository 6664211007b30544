package internaltoken

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/internal/upstreamcred"
	"github.com/jwtgate/jwtgate/middleware"
)

// Defaults and bounds of Config.
const (
	DefaultTTL = time.Minute
	// MaxTTL bounds TTL: an internal token is for one hop, now.
	MaxTTL = time.Hour
)

// reservedClaims are set by the signer itself, or (cnf) would bind the
// internal token to the client's key, which the gateway does not hold:
// they cannot be copied.
var reservedClaims = []string{"iss", "aud", "exp", "iat", "nbf", "jti", "cnf"}

// Config configures a Transport.
type Config struct {
	// Keys signs (its newest key) and publishes. Required.
	Keys *KeyRing
	// Issuer is the tokens' iss: the gateway's own URL, where services
	// find its discovery document and JWK Set (PublishHandler). Required.
	Issuer string
	// Audience is the tokens' aud (the upstream service). Required.
	Audience []string
	// TTL is how long a token is valid, never past the verified token's
	// exp. 0 means 1m; at most MaxTTL.
	TTL time.Duration
	// Claims are the verified token's claims copied into the internal
	// token, as they are, when present: never a value of the request's
	// own. iss, aud, exp, iat, nbf and jti are the signer's, and cnf
	// cannot be copied (the gateway holds no key of the client's). nil
	// means [sub].
	Claims []string
	// Header is where the token goes upstream. "" means Authorization.
	Header string
	// Scheme is put before the token with a space. "" means Bearer when
	// Header is Authorization, nothing otherwise.
	Scheme string
	// Next sends the upstream request. nil means http.DefaultTransport.
	Next http.RoundTripper
	// Now is the clock of iat and exp. nil means time.Now.
	Now func() time.Time
}

// Transport is an http.RoundTripper that sends each request upstream with
// a short-lived JWT the gateway signs from the request's verified claims
// (middleware.ClaimsFromContext), never with the client's token. Create
// it with New; safe for concurrent use; it starts no goroutine.
type Transport struct {
	cfg Config
}

var _ http.RoundTripper = (*Transport)(nil)

// New validates cfg.
func New(cfg Config) (*Transport, error) {
	bad := func(format string, a ...any) (*Transport, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...)
	}
	if cfg.Keys == nil {
		return bad("Keys is required")
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return bad("Issuer %q: want an absolute http(s) URL without query or fragment", cfg.Issuer)
	}
	if len(cfg.Audience) == 0 || slices.Contains(cfg.Audience, "") {
		return bad("Audience is required (the upstream service), without empty values")
	}
	switch {
	case cfg.TTL < 0 || cfg.TTL > MaxTTL:
		return bad("TTL %v: want 0 (default %v) to %v", cfg.TTL, DefaultTTL, MaxTTL)
	case cfg.TTL == 0:
		cfg.TTL = DefaultTTL
	}
	if cfg.Claims == nil {
		cfg.Claims = []string{"sub"}
	}
	for _, c := range cfg.Claims {
		if c == "" || slices.Contains(reservedClaims, c) {
			return bad("claim %q cannot be copied (iss, aud, exp, iat, nbf and jti are the signer's; cnf binds to a key the gateway does not hold)", c)
		}
	}
	cfg.Header, cfg.Scheme = upstreamcred.Defaults(cfg.Header, cfg.Scheme)
	if cfg.Next == nil {
		cfg.Next = http.DefaultTransport
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Claims = slices.Clone(cfg.Claims)
	cfg.Audience = slices.Clone(cfg.Audience)
	return &Transport{cfg: cfg}, nil
}

// Sign returns an internal token for c: iss the gateway, aud the
// upstream, the configured claims copied from c, exp TTL from now and
// never past c's exp, a fresh jti, signed with the key ring's newest key.
func (t *Transport) Sign(c *middleware.Claims) (string, error) {
	if c == nil {
		return "", fmt.Errorf("%w: %w: %w", ErrSign, ErrNoClaims, middleware.ErrTokenMissing)
	}
	now := t.cfg.Now()
	exp := now.Add(t.cfg.TTL)
	if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(exp) {
		exp = c.ExpiresAt
	}
	if !exp.After(now) {
		return "", fmt.Errorf("%w: %w: the verified token has expired: %w", ErrSign, ErrNoClaims, middleware.ErrTokenExpired)
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // never fails (crypto/rand)
	mc := jwt.MapClaims{}
	for _, name := range t.cfg.Claims {
		var raw json.RawMessage
		if ok, err := c.Get(name, &raw); ok && err == nil {
			mc[name] = raw
		}
	}
	mc["iss"] = t.cfg.Issuer
	if len(t.cfg.Audience) == 1 {
		mc["aud"] = t.cfg.Audience[0]
	} else {
		mc["aud"] = t.cfg.Audience
	}
	mc["iat"] = now.Unix()
	mc["exp"] = exp.Unix()
	mc["jti"] = hex.EncodeToString(jti[:])
	snap := t.cfg.Keys.current()
	k := snap.signing
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), mc)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("%w: signing: %w", ErrSign, err)
	}
	k.noteExp(exp)
	return s, nil
}

// noteExp records that a token valid until exp was signed with k: a
// retired k stays published until then.
func (k *ringKey) noteExp(exp time.Time) {
	e := exp.UnixNano()
	for {
		old := k.lastExp.Load()
		if old >= e || k.lastExp.CompareAndSwap(old, e) {
			return
		}
	}
}

// RoundTrip signs an internal token from the verified claims in req's
// context and sends a copy of req with it in Config.Header (and nothing of
// the client's token) through Config.Next. Without verified claims it
// returns an error wrapping ErrNoClaims and Next is not called.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := middleware.ClaimsFromContext(req.Context())
	tok, err := t.Sign(c)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.cfg.Next.RoundTrip(upstreamcred.Prepare(req, c.Token(), t.cfg.Header, t.cfg.Scheme, tok))
}

// WriteError answers a request RoundTrip failed: the middleware's answer
// for a missing or expired token, 500 otherwise (the body names nothing
// internal).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if st := middleware.Status(err); st != http.StatusInternalServerError {
		middleware.WriteError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(internalErrorBody)))
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(internalErrorBody))
}

const internalErrorBody = `{"error":"server_error","error_description":"internal error"}` + "\n"
