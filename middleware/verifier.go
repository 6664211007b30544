package middleware

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"
)

// Verifier checks JWTs: in HTTP requests (Handler, Authenticate) and for
// non-HTTP callers (Verify). Create it with New; it is safe for concurrent
// use and starts no goroutines, so it needs no Close.
type Verifier struct {
	*shared
	route Route
}

// shared is what every Verifier derived with With uses together.
type shared struct {
	cfg        Config
	algs       map[string]*algSpec
	keys       *keySource            // nil when KeysByIssuer is used
	byIssuer   map[string]*keySource // nil when Keys is used
	issuers    map[string]struct{}
	cache      *tokenCache // nil: off
	extraNames []string    // string claims kept typed in Claims (ClaimHeaders, TierClaim)
	rsaCheck   rsaCheck
}

// Route holds per-route requirements, applied by a Verifier derived with
// With. The zero value adds nothing.
type Route struct {
	// Scopes that the token must all have (else 403 insufficient_scope).
	Scopes []string
	// RateLimit replaces the Verifier's RateLimit for this route. Nil: the
	// Verifier's. A pointer to a zero RateLimit turns limiting off here.
	RateLimit *RateLimit
}

// New checks cfg, fills its defaults and returns a Verifier. A bad Config is
// an error, never a panic.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	warnUnchecked(&cfg)
	s := &shared{cfg: cfg, algs: make(map[string]*algSpec)}
	for _, a := range cfg.Algorithms {
		s.algs[a] = algSpecs[a]
	}
	if s.algs["EdDSA"] != nil {
		// "EdDSA" here is Ed25519 only, so its fully specified name (RFC
		// 9864) is the same algorithm. Not the other way round: listing
		// only "Ed25519" keeps the deprecated polymorphic name out.
		s.algs["Ed25519"] = algSpecs["Ed25519"]
	}
	if cfg.Keys != nil {
		s.keys = newKeySource(cfg.Keys)
	}
	if len(cfg.KeysByIssuer) > 0 {
		s.byIssuer = make(map[string]*keySource, len(cfg.KeysByIssuer))
		for iss, st := range cfg.KeysByIssuer {
			s.byIssuer[iss] = newKeySource(st)
		}
	}
	if len(cfg.Issuers) > 0 {
		s.issuers = make(map[string]struct{}, len(cfg.Issuers))
		for _, iss := range cfg.Issuers {
			s.issuers[iss] = struct{}{}
		}
	}
	if cfg.TokenCacheSize > 0 {
		s.cache = newTokenCache(cfg.TokenCacheSize)
	}
	for name := range cfg.ClaimHeaders {
		s.extraNames = append(s.extraNames, name)
	}
	if cfg.RateLimit.TierClaim != "" {
		s.extraNames = append(s.extraNames, cfg.RateLimit.TierClaim)
	}
	slices.Sort(s.extraNames)
	s.extraNames = slices.Compact(s.extraNames)
	return &Verifier{shared: s}, nil
}

// warnUnchecked logs one Warn line when the normalized cfg accepts any iss
// or any aud: tokens minted by another issuer, or for another audience of
// the same issuer, would then pass (RFC 8725 §3.9). Allowed, but it should
// be a decision someone sees, not a forgotten field.
func warnUnchecked(cfg *Config) {
	var unchecked string
	switch iss, aud := len(cfg.Issuers) == 0, len(cfg.Audiences) == 0; {
	case iss && aud:
		unchecked = "iss,aud"
	case iss:
		unchecked = "iss"
	case aud:
		unchecked = "aud"
	default:
		return
	}
	cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn,
		"jwtgate: tokens are accepted without checking some claims; set Issuers (or KeysByIssuer) and Audiences (RFC 8725 §3.9)",
		slog.String("unchecked", unchecked))
}

// With returns a Verifier for one route: it shares v's keys and
// verified-token cache and adds the route's requirements to v's own (scopes
// accumulate; a non-nil RateLimit replaces the one in force). rt is copied,
// its slices and maps included. Cheap; call it
// once per route when building the router.
func (v *Verifier) With(rt Route) *Verifier {
	merged := Route{Scopes: slices.Concat(v.route.Scopes, rt.Scopes), RateLimit: v.route.RateLimit}
	if rt.RateLimit != nil {
		rl := *rt.RateLimit
		rl.Tiers = maps.Clone(rl.Tiers)
		merged.RateLimit = &rl
	}
	return &Verifier{shared: v.shared, route: merged}
}

// Verify checks token (the compact JWS, without "Bearer ") and returns its
// claims. ctx bounds any key look-up. It applies everything except the
// route's scopes and the rate limit, which need a request.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	c, _, err := v.verify(ctx, token, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// verify verifies token and also reports the token's alg through alg (when
// not nil) once the header has been read, for OnVerify.
func (v *Verifier) verify(ctx context.Context, token string, alg *string) (*Claims, bool, *Error) {
	// First, before even hashing it for the cache: junk of any size costs
	// one comparison.
	if len(token) > v.cfg.MaxTokenSize {
		return nil, false, errTooLarge
	}
	now := v.cfg.Now()
	var h uint64
	if v.cache != nil {
		var e *cacheEntry
		e, h = v.cache.get(token, now.UnixNano())
		if e != nil {
			if alg != nil {
				*alg = e.j.spec.name
			}
			// exp is in until; nbf and iat are checked here, since the
			// clock may have stepped back since the token was cached.
			if e.notBefore != 0 && now.UnixNano() < e.notBefore {
				return nil, true, e.notYet
			}
			if v.stillValid(ctx, e) {
				if err := v.runValidate(ctx, e.claims); err != nil {
					return nil, true, err
				}
				return e.claims, true, nil
			}
			v.cache.remove(h, e)
		}
	}
	j, payload, err := v.parseJWS(token)
	if alg != nil && j.spec != nil {
		*alg = j.spec.name
	}
	if err != nil {
		return nil, false, err
	}
	spec := j.spec
	c, p, err := v.decodeClaims(payload)
	if err != nil {
		return nil, false, err
	}
	var (
		key    any
		ks     *keySource
		gen    uint64
		genSet bool
	)
	if spec.hmac {
		key = v.cfg.HMACSecret
	} else {
		ks = v.keys
		if v.byIssuer != nil {
			// Only a configured issuer gets as far as a key look-up.
			if !p.iss {
				return nil, false, errIssuer
			}
			if ks = v.byIssuer[c.Issuer]; ks == nil {
				return nil, false, errIssuer
			}
		}
		// Read the generation before the look-up: if the set changes in
		// between, the entry carries the older number and is re-checked.
		gen, genSet = ks.generation()
		if key, err = v.lookup(ctx, ks, &j); err != nil {
			return nil, false, err
		}
	}
	if err := checkSig(&j, key); err != nil {
		return nil, false, err
	}
	if err := v.checkClaims(c, p, now); err != nil {
		return nil, false, err
	}
	if err := v.runValidate(ctx, c); err != nil {
		return nil, false, err
	}
	if v.cache != nil {
		until := now.Add(v.cfg.TokenCacheMaxAge)
		if p.exp && c.ExpiresAt.Before(until) {
			until = c.ExpiresAt
		}
		e := &cacheEntry{token: token, claims: c, until: until.UnixNano(), src: ks, key: key,
			j: jwsKeyRef{spec: spec, kid: j.kid, hasKID: j.hasKID}}
		e.notBefore, e.notYet = notBefore(c, p, v.cfg.Leeway)
		if genSet {
			e.gen.Store(gen)
		} else if ks != nil {
			// No generation: every hit re-checks the key.
			e.gen.Store(^uint64(0))
		}
		v.cache.put(h, e)
	}
	return c, false, nil
}

// parseJWS is the JWS-level shape and header step: canonical segments, a
// header naming an allowed alg, a kid unless configured optional. It returns
// the payload (not yet read) for the claims step.
func (v *Verifier) parseJWS(token string) (jws, string, *Error) {
	hdr, payload, sig, signingInput, err := splitJWS(token, v.cfg.MaxTokenSize)
	if err != nil {
		return jws{}, "", err
	}
	j := jws{signingInput: signingInput, sig: sig}
	if err := parseHeader(hdr, &j); err != nil {
		return jws{}, "", err
	}
	if j.spec = v.algs[j.alg]; j.spec == nil {
		return jws{}, "", errAlg
	}
	if len(v.cfg.Types) > 0 && (!j.hasTyp || !typeAccepted(j.typ, v.cfg.Types)) {
		return j, "", errTyp
	}
	if !j.hasKID && !v.cfg.KIDOptional && !j.spec.hmac {
		return j, "", errNoKID
	}
	return j, payload, nil
}

// checkSig verifies j's signature with key through golang-jwt's signing
// method for j's alg.
func checkSig(j *jws, key any) *Error {
	if j.spec.method.Verify(j.signingInput, j.sig, key) != nil {
		return errSig
	}
	return nil
}

// parseHeader reads the protected header. Keys carried in the header (jwk,
// jku, x5u, x5c) are ignored: keys only ever come from the configured
// provider. Any crit is refused, since no extension is understood, and so
// is b64 (RFC 7797 unencoded payloads).
func parseHeader(hdr string, j *jws) *Error {
	var (
		alg, crit, bad bool
	)
	ok := walkObject(hdr, func(name, val string) bool {
		switch name {
		case "alg":
			j.alg, alg = jsonString(val)
			bad = !alg
		case "kid":
			j.kid, j.hasKID = jsonString(val)
			bad = !j.hasKID
		case "typ":
			// Not an error when it is not a string: typ is only looked at
			// when Config.Types is set, and then hasTyp false rejects it.
			j.typ, j.hasTyp = jsonString(val)
		case "crit", "b64":
			crit = true
		}
		return !bad
	})
	switch {
	case !ok || bad || !alg:
		return errHeader
	case crit:
		return errCrit
	}
	return nil
}

func (v *Verifier) checkClaims(c *Claims, p presence, now time.Time) *Error {
	leeway := v.cfg.Leeway
	if p.exp {
		if !now.Before(c.ExpiresAt.Add(leeway)) {
			return errExpired
		}
	} else if !v.cfg.ExpOptional {
		return errNoExp
	}
	if p.nbf && now.Add(leeway).Before(c.NotBefore) {
		return errNotYet
	}
	if p.iat && now.Add(leeway).Before(c.IssuedAt) {
		return errIssuedFuture
	}
	if p.cnf && !v.cfg.AllowSenderConstrained {
		// A token bound to a key (DPoP) or a certificate (mTLS) is worth
		// nothing to a thief only if its proof is checked; accepting it as
		// a bearer token would undo that (RFC 9449 §7.2, RFC 8705 §3).
		return errSenderConstrained
	}
	if v.issuers != nil {
		if _, ok := v.issuers[c.Issuer]; !ok || !p.iss {
			return errIssuer
		}
	}
	if len(v.cfg.Audiences) > 0 {
		ok := false
		for _, a := range c.Audience {
			if slices.Contains(v.cfg.Audiences, a) {
				ok = true
				break
			}
		}
		if !ok {
			return errAudience
		}
	}
	return nil
}

// notBefore returns the instant (unix nanoseconds, 0 for none) before which
// a cached token must be refused again, and the error to refuse it with:
// the later of nbf and iat, less the leeway, as checkClaims would judge it.
func notBefore(c *Claims, p presence, leeway time.Duration) (int64, *Error) {
	var (
		at  int64
		err *Error
	)
	if p.nbf {
		at, err = c.NotBefore.Add(-leeway).UnixNano(), errNotYet
	}
	if p.iat {
		if t := c.IssuedAt.Add(-leeway).UnixNano(); err == nil || t > at {
			at, err = t, errIssuedFuture
		}
	}
	return at, err
}

func (v *Verifier) runValidate(ctx context.Context, c *Claims) *Error {
	if v.cfg.Validate == nil {
		return nil
	}
	if err := v.cfg.Validate(ctx, c); err != nil {
		return &Error{kind: ErrClaimsInvalid, desc: "token rejected", cause: err}
	}
	return nil
}

// Authenticate is Handler's work without calling the next handler, for
// adapters: it extracts and verifies the token, applies the route's scopes,
// forwards claims as headers (ClaimHeaders) and applies the rate limit,
// setting the RateLimit-* headers on w. It returns the claims, or an error
// to pass to v.WriteError. With Optional set, a request without a token
// returns (nil, nil).
func (v *Verifier) Authenticate(w http.ResponseWriter, r *http.Request) (*Claims, error) {
	c, err := v.authenticate(w, r)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (v *Verifier) authenticate(w http.ResponseWriter, r *http.Request) (*Claims, *Error) {
	var start time.Time
	if v.cfg.OnVerify != nil {
		start = time.Now()
	}
	token, err := v.extract(r)
	var (
		c   *Claims
		hit bool
		alg string
	)
	if err == nil {
		c, hit, err = v.verify(r.Context(), token, &alg)
	} else if err == errMissing && v.cfg.Optional && len(v.route.Scopes) == 0 {
		// Anonymous, but the client must still not pass its own claim
		// headers to the upstream as if they were verified. A route that
		// requires scopes requires a token, whatever Optional says: letting
		// an anonymous request through there would fail open.
		v.stripClaimHeaders(r)
		if v.cfg.OnVerify != nil {
			v.cfg.OnVerify(VerifyEvent{Reason: "anonymous", Duration: time.Since(start)})
		}
		return nil, nil
	}
	if v.cfg.OnVerify != nil {
		v.cfg.OnVerify(VerifyEvent{Reason: reasonOf(err), Err: errOrNil(err), Duration: time.Since(start), CacheHit: hit, Alg: alg})
	}
	if err != nil {
		v.logReject(r, err)
		return nil, err
	}
	if len(v.route.Scopes) > 0 && !c.HasScopes(v.route.Scopes...) {
		err := &Error{kind: ErrInsufficientScope, desc: "insufficient scope", scopes: v.route.Scopes}
		v.logReject(r, err)
		return nil, err
	}
	if len(v.cfg.ClaimHeaders) > 0 {
		v.forwardClaims(r, c)
	}
	rl := &v.cfg.RateLimit
	if v.route.RateLimit != nil {
		rl = v.route.RateLimit
	}
	if rl.enabled() {
		if err := v.limit(w, r, c, rl); err != nil {
			v.logReject(r, err)
			return nil, err
		}
	}
	return c, nil
}

func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

func reasonOf(e *Error) string {
	if e == nil {
		return "ok"
	}
	return Reason(e)
}

func (v *Verifier) logReject(r *http.Request, err *Error) {
	l := v.cfg.Logger
	if !l.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	l.LogAttrs(r.Context(), slog.LevelDebug, "jwtgate: request rejected",
		slog.String("reason", Reason(err)),
		slog.String("description", err.desc),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path))
}

// forwardClaims sets the configured claim headers, after deleting whatever
// the client sent under those names or names an upstream reads as the same:
// any letter case (a key Go did not canonicalize is still the same header
// on the wire) and '_' for '-' (CGI, WSGI, Rack and PHP turn both into
// HTTP_X_USER).
func (v *Verifier) forwardClaims(r *http.Request, c *Claims) {
	v.stripClaimHeaders(r)
	for name, header := range v.cfg.ClaimHeaders {
		if s, ok := c.String(name); ok && validHeaderValue(s) {
			r.Header.Set(header, s)
		}
	}
}

// stripClaimHeaders deletes every header the client sent that an upstream
// could take for a claim header (see forwardClaims).
func (v *Verifier) stripClaimHeaders(r *http.Request) {
	for sent := range r.Header {
		for _, header := range v.cfg.ClaimHeaders {
			if sameHeaderName(sent, header) {
				delete(r.Header, sent)
				break
			}
		}
	}
}

// validHeaderValue reports whether s may be sent as a header value (RFC 9110
// §5.5: no control bytes but tab). A claim with a line break is not
// forwarded: net/http would refuse the upstream request, and a less careful
// client would split it.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// sameHeaderName compares header names ignoring case and treating '_' as '-'.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Handler verifies every request before next runs: it answers a rejected
// request itself (through the ErrorHandler) and passes an accepted one on
// with the claims in its context (ClaimsFromContext).
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.authenticate(w, r)
		if err != nil {
			v.WriteError(w, r, err)
			return
		}
		if c != nil {
			r = r.WithContext(ContextWithClaims(r.Context(), c))
		}
		next.ServeHTTP(w, r)
	})
}

// RequireScopes returns middleware for a handler that already runs behind
// v.Handler (or an adapter): it answers 403 insufficient_scope unless the
// request's claims have every one of scopes, and 401 when there are no
// claims at all.
func (v *Verifier) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	scopes = slices.Clone(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFromContext(r.Context())
			if !ok {
				v.WriteError(w, r, errMissing)
				return
			}
			if !c.HasScopes(scopes...) {
				v.WriteError(w, r, &Error{kind: ErrInsufficientScope, desc: "insufficient scope", scopes: scopes})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Ready reports whether every key provider can serve keys (providers
// without a Ready method count as ready), for a /readyz endpoint.
func (v *Verifier) Ready() bool {
	if v.keys != nil && v.keys.ready != nil && !v.keys.ready.Ready() {
		return false
	}
	for _, ks := range v.byIssuer {
		if ks.ready != nil && !ks.ready.Ready() {
			return false
		}
	}
	return true
}

// TokenCacheLen returns how many verified tokens are cached now (0 with
// the cache off), for a metrics gauge.
func (v *Verifier) TokenCacheLen() int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}
