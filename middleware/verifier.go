package middleware

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Verifier checks JWTs: in HTTP requests (Handler, Authenticate) and for
// non-HTTP callers (Verify). Create it with New; it is safe for concurrent
// use and starts no goroutines, so it needs no Close.
type Verifier struct {
	*shared
	route    Route
	resource *resourceSpec // the route's Resource, compiled; nil: none
	routeErr *Error        // With could not apply route: every request fails closed
	dpopMode DPoPMode      // route.DPoP, or the Config's when that is DPoPDefault
	// Summaries of route, so that the hit path pays one test for
	// everything a route may add: tokenChecks (audiences, Resource, a
	// route error) and authz (those, scopes, claim headers, a rate limit).
	tokenChecks, authz bool
	limit              *RateLimit // the rate limit in force, nil when none
	limitText          *limitText // the limit's RateLimit-Limit value, kept; nil when no limit
	// limitAt is limit.Limiter when it takes the request's clock reading
	// and that clock is time.Now (ratelimit.LimiterAt's contract).
	limitAt       ratelimit.LimiterAt
	stepUp        *Error            // the route's step-up refusal (RFC 9470), nil when it requires none
	kinds         []CredentialKind  // the route's credential order (Route.kinds)
	revocation    bool              // JWTs are introspected too (RevocationChecker)
	keyHeader     string            // Config.APIKeyHeader when the route takes API keys, else ""
	jwtOnly       bool              // kinds is [jwt] alone: no credential to classify
	keyRecognizer APIKeyRecognizer  // route.APIKeys', when it is one
	budgetCarrier BudgetCarrier     // route.Budget's, when it is one
	budgetHeader  BudgetHeaderCheck // route.Budget's, when it is one
	introspectAt  IntrospectorAt    // route.Introspection's, when it is one
	// introCache: opaque tokens this route introspects may be answered
	// from the verified-token cache (the cache is on, the Introspector
	// takes the Verifier's clock reading, and is a pointer, so that an
	// entry's Introspector compares with the route's without panicking).
	introCache bool
	// keyVersioner: route.APIKeys' version, when the cache is on and the
	// store is an APIKeyVersioner and a pointer; nil: every key goes to
	// the store.
	keyVersioner APIKeyVersioner
}

// settle computes v's summaries of its route; New and With call it last.
func (v *Verifier) settle() *Verifier {
	v.dpopMode = v.cfg.DPoP.Mode
	if v.route.DPoP != DPoPDefault {
		v.dpopMode = v.route.DPoP
	}
	rl := &v.cfg.RateLimit
	if v.route.RateLimit != nil {
		rl = v.route.RateLimit
	}
	v.limit, v.limitText, v.limitAt = nil, nil, nil
	if rl.enabled() {
		v.limit, v.limitText = rl, new(limitText)
		if v.wallClock {
			v.limitAt, _ = rl.Limiter.(ratelimit.LimiterAt)
		}
	}
	v.stepUp = nil
	if len(v.route.RequireACR) > 0 || v.route.MaxAuthAge > 0 {
		v.stepUp = newStepUpError(v.route.RequireACR, v.route.MaxAuthAge)
	}
	v.kinds = v.route.kinds()
	v.revocation = false
	if rc, ok := v.route.Introspection.(RevocationChecker); ok && rc.IntrospectsJWTs() && slices.Contains(v.kinds, CredentialJWT) {
		v.revocation = true
	}
	v.keyHeader = ""
	if slices.Contains(v.kinds, CredentialAPIKey) {
		v.keyHeader = v.cfg.APIKeyHeader
	}
	v.jwtOnly = len(v.kinds) == 1 && v.kinds[0] == CredentialJWT && !v.revocation
	v.keyRecognizer, _ = v.route.APIKeys.(APIKeyRecognizer)
	// Found once per route, not on every budgeted request.
	v.budgetCarrier, _ = v.route.Budget.(BudgetCarrier)
	v.budgetHeader, _ = v.route.Budget.(BudgetHeaderCheck)
	v.introspectAt, _ = v.route.Introspection.(IntrospectorAt)
	v.introCache = v.cache != nil && v.introspectAt != nil && reflect.ValueOf(v.route.Introspection).Kind() == reflect.Pointer
	v.keyVersioner = nil
	if kv, ok := v.route.APIKeys.(APIKeyVersioner); ok && v.cache != nil && reflect.ValueOf(v.route.APIKeys).Kind() == reflect.Pointer {
		v.keyVersioner = kv
	}
	v.tokenChecks = v.route.Audiences != nil || v.route.Types != nil || v.resource != nil || v.routeErr != nil || v.stepUp != nil
	v.authz = v.tokenChecks || len(v.route.Scopes) > 0 || len(v.claimHeaders()) > 0 || v.limit != nil || v.route.Budget != nil || v.route.Policy != nil
	return v
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
	dpop       *dpopSpec           // built even when off, so a route can turn DPoP on
	fw         *forwarded.Resolver // the trusted-proxy view, for htu and client certificates
	wallClock  bool                // cfg.Now is time.Now (the caller set none)
}

// Route holds per-route requirements, applied by a Verifier derived with
// With. The zero value adds nothing.
type Route struct {
	// Scopes that the token must all have (else 403 insufficient_scope).
	Scopes []string
	// RateLimit replaces the Verifier's RateLimit for this route. Nil: the
	// Verifier's. A pointer to a zero RateLimit turns limiting off here.
	RateLimit *RateLimit
	// Audiences, when set, are the aud values accepted on this route (any
	// one must be in the token's aud, compared exactly), on top of the
	// Verifier's Audiences: a Verifier for several routes can accept the
	// union and each route narrow it. Checked after the verified-token
	// cache, like Scopes (401 invalid_token, "audience not accepted").
	// Nil: only the Verifier's check. With on a derived Verifier replaces
	// it.
	Audiences []string
	// ClaimHeaders, when not nil, replaces the Verifier's ClaimHeaders on
	// this route (same rules; an empty map forwards nothing). With on a
	// derived Verifier replaces it.
	ClaimHeaders map[string]string
	// Types, when set, is a typ allow-list for this route, on top of the
	// Verifier's Types (same rules as Config.Types; 401 "token type not
	// accepted"). With on a derived Verifier replaces it.
	Types []string
	// Resource, when not nil, makes the route an OAuth protected resource
	// (RFC 9728; an MCP server): see Resource for the rules it adds. With
	// on a derived Verifier replaces it.
	Resource *Resource
	// DPoP, when not DPoPDefault, replaces the Verifier's DPoP mode on
	// this route (the rest of Config.DPoP is shared).
	DPoP DPoPMode
	// RequireACR, when set, are the acr values this route accepts (RFC
	// 9470 step-up): a token whose acr claim is none of them (or has no
	// acr) is refused with 401 insufficient_user_authentication and
	// acr_values in the challenge, so the client can ask its
	// authorization server for a stronger login. Compared exactly. With on
	// a derived Verifier replaces it.
	RequireACR []string
	// MaxAuthAge, when positive, bounds how long ago the user
	// authenticated: a token whose auth_time is older (beyond the
	// Verifier's Leeway), or has no auth_time, is refused like RequireACR,
	// with max_age in the challenge (RFC 9470). 0: not checked. With on a
	// derived Verifier replaces it.
	MaxAuthAge time.Duration
	// Policy, when not nil, decides the verified request after the
	// route's other requirements and before its rate limit (see Policy;
	// package policy compiles CEL). With on a derived Verifier adds it:
	// the parent's policy and this one must both allow.
	Policy Policy
	// Budget, when not nil, is checked after the rate limit on every
	// request the route decides (a verified-token cache hit, a decision
	// about the route and an ext_authz Check included): a spent budget
	// refuses the request, reason "budget_exhausted". It only checks;
	// charging what the upstream reports is the caller's (package
	// budget's Handler.Meter). With on a derived Verifier replaces it.
	Budget BudgetCheck
	// Credentials is the order in which the route tries credential kinds
	// (first match): the first kind that recognises the request's
	// credential decides it, and a credential that kind refuses is never
	// tried as another. A compact JWS is recognised by CredentialJWT only
	// (never introspected, unless the Introspector asks for revoked JWTs:
	// RevocationChecker); any other bearer token by CredentialIntrospection,
	// or by CredentialAPIKey when the store recognises it
	// (APIKeyRecognizer); a key in Config.APIKeyHeader by CredentialAPIKey
	// only. Nil: JWT, then introspection when Introspection is set, then
	// API keys when APIKeys is set. With on a derived Verifier replaces it.
	Credentials []CredentialKind
	// Introspection answers for opaque tokens on this route (RFC 7662;
	// package introspect). Each route is bound to its own endpoint: an
	// answer cached from another endpoint is never used here (nor, in the
	// verified-token cache, an answer another Introspector gave: see
	// NewIntrospectionResultUntil). When it is a
	// RevocationChecker that says so, JWTs that verify on the route are
	// introspected too. Nil: none. With on a derived Verifier replaces it.
	Introspection Introspector
	// APIKeys holds the API keys this route accepts (package apikey). A
	// key's claims have no aud or typ: the route's Audiences, Types and
	// Resource audience do not apply to it (its scopes, policy, step-up,
	// rate limit and budget do). Nil: none. With on a derived Verifier
	// replaces it.
	APIKeys APIKeyStore
}

// BudgetCheck is a spending limit a route checks before the request goes
// on: package budget's *Handler. CheckBudget returns nil to let the
// request through (also for a request it does not budget: no claims, no
// key), an error matching ErrBudgetExhausted, with a Decision method for
// the RateLimit-* headers, when the subject's budget is spent, and any
// error matching ErrPolicyDenied when the request may not spend at all
// (403 access_denied: package budget's token without its tenant claim),
// and any other error when it cannot decide (503, as
// ErrLimiterUnavailable). c is
// the verified claims, never nil (an anonymous request that Config.Optional
// lets through is not budgeted). It must be safe for concurrent use.
type BudgetCheck interface {
	CheckBudget(r *http.Request, c *Claims) error
}

// BudgetHeaderCheck is a BudgetCheck that can also say what is left: the
// Verifier calls CheckBudgetHeader instead of CheckBudget, with the
// response's header (nil when the face has none), for headers such as
// RateLimit-Policy and RateLimit naming each budget.
type BudgetHeaderCheck interface {
	BudgetCheck
	CheckBudgetHeader(h http.Header, r *http.Request, c *Claims) error
}

// BudgetCarrier is a BudgetHeaderCheck whose check works out what its
// meter, behind the Verifier's Handler, needs again (package budget's:
// the keys and budgets the request spends from). Handler calls
// CheckBudgetCarry instead of CheckBudgetHeader and hands carry (nil for
// nothing) to the next handler in the request's context, where
// BudgetCarried finds it; it rides in the claims' own context value, so
// carrying costs no allocation. Other faces (Verify, a decision about
// the route) call CheckBudgetHeader or CheckBudget as before.
type BudgetCarrier interface {
	BudgetHeaderCheck
	CheckBudgetCarry(h http.Header, r *http.Request, c *Claims) (carry any, err error)
}

// BudgetCarried returns what the route's BudgetCarrier returned for the
// request whose context ctx is, behind Handler; nil when nothing was
// carried.
func BudgetCarried(ctx context.Context) any { return ctx.Value(budgetKey{}) }

// requiresToken reports whether the route can only be decided with a
// token, so that Optional must not let an anonymous request through.
func (rt *Route) requiresToken() bool {
	return len(rt.Scopes) > 0 || len(rt.Audiences) > 0 || len(rt.Types) > 0 || rt.Resource != nil ||
		len(rt.RequireACR) > 0 || rt.MaxAuthAge > 0
}

// New checks cfg, fills its defaults and returns a Verifier. A bad Config is
// an error, never a panic.
func New(cfg Config) (*Verifier, error) {
	wallClock := cfg.Now == nil
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	warnUnchecked(&cfg)
	s := &shared{cfg: cfg, algs: make(map[string]*algSpec), wallClock: wallClock}
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
		s.cache = newTokenCache(cfg.TokenCacheSize, cfg.TokenCacheDoorkeeper)
	}
	for name := range cfg.ClaimHeaders {
		s.extraNames = append(s.extraNames, name)
	}
	if cfg.RateLimit.TierClaim != "" {
		s.extraNames = append(s.extraNames, cfg.RateLimit.TierClaim)
	}
	slices.Sort(s.extraNames)
	s.extraNames = slices.Compact(s.extraNames)
	var err error
	if s.dpop, err = newDPoPSpec(cfg.DPoP, cfg.Now); err != nil {
		return nil, err
	}
	s.fw = resolver(&cfg)
	v := &Verifier{shared: s}
	if cfg.Resource != nil {
		res := *cfg.Resource
		spec, err := compileResource(res)
		if err != nil {
			return nil, err
		}
		v.route.Resource, v.resource = &res, spec
	}
	return v.settle(), nil
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
// verified-token cache and adds the route's requirements to v's own, as
// Route.merge combines them (scopes accumulate; every other field rt sets
// replaces v's, every field it leaves zero keeps v's). A Route that New
// would refuse (an invalid ClaimHeaders mapping or Types entry, an unknown
// DPoP mode, a bad Resource) yields a Verifier that answers every request
// with 500, and logs an error once. rt is copied, its slices and maps
// included. Cheap; call it once per route when building the router.
func (v *Verifier) With(rt Route) *Verifier {
	merged, err := v.route.merge(rt)
	d := &Verifier{shared: v.shared, route: merged, resource: v.resource, routeErr: v.routeErr}
	if err == nil && rt.Resource != nil {
		d.resource, err = compileResource(*merged.Resource)
	}
	if err != nil {
		// With cannot return an error; the route it was asked for is not
		// served half-configured but refused (500), and said so once.
		v.cfg.Logger.Error("jwtgate: route refused: every request on it is answered 500", slog.Any("err", err))
		d.routeErr = &Error{kind: errRouteConfig, desc: "internal error", cause: err}
	}
	return d.settle()
}

// Validate reports whether With would apply rt, or refuse the route (500)
// and log why: for configuration loaders that check a route before they
// build it. It does not check rt.Resource (see Resource.Validate).
func (rt Route) Validate() error {
	_, err := Route{}.merge(rt)
	return err
}

// merge is the one place a derived route's requirements are computed:
// base's, with what rt adds. Scopes accumulate (a route under a route
// needs both); every other field that rt sets replaces base's, and every
// field rt leaves at its zero value keeps base's, so that deriving never
// drops a requirement. The result shares nothing with rt. TestWithCarries
// Route walks every field of Route: a field added without a rule here fails
// it.
func (base Route) merge(rt Route) (Route, error) {
	var errs []error
	m := base
	m.Scopes = slices.Concat(base.Scopes, rt.Scopes)
	if rt.RateLimit != nil {
		rl := *rt.RateLimit
		rl.Tiers = maps.Clone(rl.Tiers)
		m.RateLimit = &rl
	}
	if len(rt.Audiences) > 0 {
		m.Audiences = slices.Clone(rt.Audiences)
	}
	if rt.ClaimHeaders != nil {
		m.ClaimHeaders = maps.Clone(rt.ClaimHeaders)
		errs = append(errs, checkClaimHeaders(m.ClaimHeaders))
	}
	if len(rt.Types) > 0 {
		types, err := normalizeTypes(rt.Types)
		m.Types = types
		errs = append(errs, err)
	}
	if rt.Resource != nil {
		res := *rt.Resource
		res.Tools = maps.Clone(res.Tools)
		m.Resource = &res
	}
	if rt.Budget != nil {
		m.Budget = rt.Budget
	}
	m.Policy = joinPolicies(base.Policy, rt.Policy)
	if len(rt.Credentials) > 0 {
		m.Credentials = slices.Clone(rt.Credentials)
	}
	if rt.Introspection != nil {
		m.Introspection = rt.Introspection
	}
	if rt.APIKeys != nil {
		m.APIKeys = rt.APIKeys
	}
	errs = append(errs, checkCredentials(&m))
	if len(rt.RequireACR) > 0 {
		m.RequireACR = slices.Clone(rt.RequireACR)
		if !scopeTokens(m.RequireACR) {
			errs = append(errs, configErr("Route.RequireACR has an empty value or one with spaces, quotes or backslashes"))
		}
	}
	switch {
	case rt.MaxAuthAge < 0:
		errs = append(errs, configErr("Route.MaxAuthAge must not be negative"))
	case rt.MaxAuthAge > 0:
		m.MaxAuthAge = rt.MaxAuthAge
	}
	switch rt.DPoP {
	case DPoPDefault:
	case DPoPOff, DPoPAllowed, DPoPRequired:
		m.DPoP = rt.DPoP
	default:
		errs = append(errs, configErr("Route.DPoP %d unknown", rt.DPoP))
	}
	return m, errors.Join(errs...)
}

// Verify checks token (the compact JWS, or an opaque token or API key the
// route accepts, without "Bearer ") and returns its claims. ctx bounds any key look-up. It applies everything except the
// route's scopes and the rate limit, which need a request (a route's
// audiences and Resource do apply).
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if v.routeErr != nil {
		return nil, v.routeErr
	}
	var (
		c   *Claims
		err *Error
	)
	if len(token) > v.cfg.MaxTokenSize {
		// Where a caller's token comes in, as extract is for a request's:
		// the one size check on the way (verifyCredential and the kinds
		// behind it trust it).
		err = errTooLarge
	} else {
		c, _, _, err = v.verifyCredential(ctx, credential{token: token}, v.cfg.Now(), nil)
	}
	if err == nil && c.cnf.present && !v.cfg.AllowSenderConstrained {
		// No request, so no proof and no certificate to check a binding
		// against.
		err = errSenderConstrained
	}
	if err == nil && v.tokenChecks {
		err = v.checkRouteToken(c)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Scopes returns the scopes v's route requires (Route.Scopes, accumulated
// over With), a copy: for adapters that hand the scope check to another
// library (the MCP SDK's RequireBearerToken) and must not drop it.
func (v *Verifier) Scopes() []string { return slices.Clone(v.route.Scopes) }

// checkRouteToken applies what a route adds that needs only the verified
// token: its audiences and its Resource.
func (v *Verifier) checkRouteToken(c *Claims) *Error {
	if v.routeErr != nil {
		return v.routeErr
	}
	// An API key is issued for this service, not by an issuer for many
	// audiences: it has no aud or typ to check, and it is not refused for
	// lacking them. (Every other requirement applies to it.)
	keyed := c.kind == CredentialAPIKey
	if !keyed && len(v.route.Audiences) > 0 && !anyAudience(c.Audience, v.route.Audiences) {
		return errAudience
	}
	if !keyed && len(v.route.Types) > 0 && !typeAccepted(c.typ, v.route.Types) {
		return errTyp
	}
	if v.resource != nil && !keyed {
		if err := v.resource.checkToken(c); err != nil {
			return err
		}
	}
	if v.stepUp != nil && !v.authenticatedEnough(c) {
		return v.stepUp
	}
	return nil
}

// verify verifies token and also reports the token's alg through alg (when
// not nil) once the header has been read, and whether the verified-token
// cache answered.
func (v *Verifier) verify(ctx context.Context, token string, alg *string) (*Claims, bool, *Error) {
	return v.verifyAt(ctx, token, v.cfg.Now(), alg)
}

// verifyAt is verify at now, the request's clock reading.
func (v *Verifier) verifyAt(ctx context.Context, token string, now time.Time, alg *string) (*Claims, bool, *Error) {
	// First, before even hashing it for the cache: junk of any size costs
	// one comparison.
	if len(token) > v.cfg.MaxTokenSize {
		return nil, false, errTooLarge
	}
	// The cache-hit half, kept inline: it is the hot path.
	var h uint64
	if v.cache != nil {
		var e *cacheEntry
		// An opaque token's entry (intro) or an API key's (keys) is never
		// a JWT's answer.
		if e, h = v.cache.get(token, now.UnixNano()); e != nil && e.intro == nil && e.keys == nil {
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
			// The entry's key is gone or changed: check it cold.
			v.cache.remove(h, e)
		}
	}
	c, err := v.verifyCold(ctx, token, now, h, alg)
	return c, false, err
}

// verifyCold is the whole check: JWS shape and header, claims, key look-up,
// signature, claim values, Validate; a verified token goes into the cache
// under h.
func (v *Verifier) verifyCold(ctx context.Context, token string, now time.Time, h uint64, alg *string) (*Claims, *Error) {
	j, payload, err := v.parseJWS(token)
	if alg != nil && j.spec != nil {
		*alg = j.spec.name
	}
	if err != nil {
		return nil, err
	}
	c, p, err := v.decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	c.token = token
	if j.hasTyp {
		c.typ = j.typ
	}
	var (
		key    any
		ks     *keySource
		gen    uint64
		genSet bool
	)
	if j.spec.hmac {
		key = v.cfg.HMACSecret
	} else {
		ks = v.keys
		if v.byIssuer != nil {
			// Only a configured issuer gets as far as a key look-up.
			if !p.iss {
				return nil, errIssuer
			}
			if ks = v.byIssuer[c.Issuer]; ks == nil {
				return nil, errIssuer
			}
		}
		// Read the generation before the look-up: if the set changes in
		// between, the entry carries the older number and is re-checked.
		gen, genSet = ks.generation()
		if key, err = v.lookup(ctx, ks, &j); err != nil {
			return nil, err
		}
	}
	if err := checkSig(&j, key); err != nil {
		// The provider may have put new material under a known kid: ask
		// once (the cache refetches at most once a second) and try again
		// only with a key that changed.
		k, ok := v.recheck(ctx, ks, &j, key)
		if !ok || checkSig(&j, k) != nil {
			return nil, err
		}
		key = k
	}
	if err := v.checkClaims(c, p, now); err != nil {
		return nil, err
	}
	if err := v.runValidate(ctx, c); err != nil {
		return nil, err
	}
	if v.cache != nil && v.cache.admit(h) {
		until := now.Add(v.cfg.TokenCacheMaxAge)
		if p.exp && c.ExpiresAt.Before(until) {
			until = c.ExpiresAt
		}
		e := &cacheEntry{token: token, claims: c, until: until.UnixNano(), src: ks, key: key,
			j: jwsKeyRef{spec: j.spec, kid: j.kid, hasKID: j.hasKID}}
		e.notBefore, e.notYet = notBefore(c, p, v.cfg.Leeway)
		if genSet {
			e.gen.Store(gen)
		} else if ks != nil {
			// No generation: every hit re-checks the key.
			e.gen.Store(^uint64(0))
		}
		v.cache.put(h, e)
	}
	return c, nil
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
