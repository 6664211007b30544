package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/policy"
)

// reservedPaths are the gateway's own endpoints; no route may claim them.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics"}

// Validate fills defaults and checks everything that can be checked without
// the network, including that every UpstreamAuth variable is set and that
// the TLS files load. lookupEnv
// nil means os.LookupEnv. The returned config is normalised: routes sorted
// longest prefix first, each with its effective audiences, rate and burst.
// Validating a validated config again gives the same config.
//
// Every mistake is reported, one per line, not only the first: each part
// of the config has its check, and all of them run.
func (cfg Config) Validate(lookupEnv func(string) (string, bool)) (Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	var p problems
	cfg.checkListen(&p)
	cfg.checkTLS(&p)
	cfg.checkCredentials(&p, lookupEnv) // before checkProviders moves the top-level issuer
	cfg.checkProviders(&p)
	cfg.checkRateLimits(&p)
	cfg.checkRedis(&p, lookupEnv)
	cfg.checkShutdown(&p)
	cfg.checkVerification(&p)
	cfg.checkDPoP(&p, lookupEnv)
	cfg.checkUpstream(&p)
	cfg.checkInternalTokens(&p)
	if _, err := parseTrustedProxies(cfg.TrustedProxies); err != nil {
		p.add("%v", err)
	}
	routes := cfg.checkRoutes(&p, lookupEnv)
	if len(p) > 0 {
		return Config{}, fmt.Errorf("%w:\n  %w", ErrInvalidConfig, joinLines(p))
	}
	sort.SliceStable(routes, func(i, j int) bool { return len(routes[i].Prefix) > len(routes[j].Prefix) })
	cfg.Routes = routes
	return cfg, nil
}

// problems collects a config's mistakes, so that one run of Validate
// reports them all.
type problems []error

func (p *problems) add(format string, a ...any) { *p = append(*p, fmt.Errorf(format, a...)) }

// checkListen fills and checks the listen address.
func (cfg *Config) checkListen(p *problems) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		p.add("listen %q: want host:port", cfg.Listen)
	}
}

// checkTLS checks the tls: section and reads its files: each must be
// there and load (the listener reads them again when they change).
func (cfg *Config) checkTLS(p *problems) {
	t := cfg.TLS
	if t == nil {
		return
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		p.add("tls: cert_file and key_file are required (the PEM certificate chain and its private key)")
	case t.CertFile == "":
		p.add("tls: cert_file is required (the PEM certificate chain of key_file)")
	case t.KeyFile == "":
		p.add("tls: key_file is required (the PEM private key of cert_file)")
	default:
		if _, err := loadKeyPair(t.CertFile, t.KeyFile); err != nil {
			p.add("tls: %v", err)
		}
	}
	auth, ok := clientAuthType(t.ClientAuth)
	switch {
	case !ok:
		p.add("tls: client_auth %q: want none, request or require", t.ClientAuth)
	case auth != tls.NoClientCert && t.ClientCAFile == "":
		p.add("tls: client_auth %s needs client_ca_file (the PEM CAs client certificates must chain to)", t.ClientAuth)
	case auth == tls.NoClientCert && t.ClientCAFile != "":
		// Someone meant client certificates to be checked.
		p.add("tls: client_ca_file is given but client_auth is none: set client_auth request or require")
	}
	if t.ClientCAFile != "" {
		if _, err := loadCAPool(t.ClientCAFile); err != nil {
			p.add("tls: %v", err)
		}
	}
}

// checkProviders folds the top-level issuer/jwks_url into Providers (as
// the first) and checks each provider.
func (cfg *Config) checkProviders(p *problems) {
	providers := cfg.Providers
	if cfg.Issuer != "" || cfg.JWKSURL != "" || cfg.JWKSFile != "" {
		providers = append([]Provider{{Issuer: cfg.Issuer, JWKSURL: cfg.JWKSURL, JWKSFile: cfg.JWKSFile}}, providers...)
	}
	if len(providers) == 0 {
		p.add("need -issuer (OIDC discovery), -jwks-url or -jwks-file")
	}
	seenIss := map[string]bool{}
	for i, pv := range providers {
		where := "provider"
		if len(providers) > 1 {
			where = fmt.Sprintf("provider %d (%q)", i+1, pv.Issuer)
			if pv.Issuer == "" {
				p.add("%s: with several providers each needs an issuer (a token's iss picks one)", where)
			} else if seenIss[pv.Issuer] {
				p.add("%s: duplicate issuer", where)
			}
			seenIss[pv.Issuer] = true
		}
		switch {
		case pv.JWKSFile != "" && pv.JWKSURL != "":
			p.add("%s: set jwks_url or jwks_file, not both", where)
		case pv.JWKSFile != "":
			if fi, err := os.Stat(pv.JWKSFile); err != nil || !fi.Mode().IsRegular() {
				p.add("%s: jwks_file %q: want a readable file (%v)", where, pv.JWKSFile, err)
			}
		case pv.Issuer == "" && pv.JWKSURL == "":
			p.add("%s: need an issuer (OIDC discovery), a jwks_url or a jwks_file", where)
		case pv.JWKSURL == "":
			if !isHTTPURL(pv.Issuer) {
				p.add("%s: issuer %q: discovery needs an absolute http(s) URL (or set -jwks-url)", where, pv.Issuer)
			}
		default:
			if !isHTTPURL(pv.JWKSURL) {
				p.add("%s: jwks-url %q: want an absolute http(s) URL", where, pv.JWKSURL)
			}
		}
	}
	cfg.Providers = providers
	cfg.Issuer, cfg.JWKSURL, cfg.JWKSFile = "", "", ""
}

// checkRateLimits checks the top-level rate policy and the Redis settings.
func (cfg *Config) checkRateLimits(p *problems) {
	if !validRate(cfg.Rate) {
		p.add("rate %v: want a number >= 0", cfg.Rate)
	}
	if cfg.Burst < 0 {
		p.add("burst %d: want >= 0", cfg.Burst)
	}
	if cfg.Replicas < 0 || cfg.Replicas > 1000 {
		p.add("replicas %d: want 0 to 1000", cfg.Replicas)
	}
	if cfg.Replicas > 0 && cfg.Redis.IsZero() {
		p.add("replicas %d without redis: in-process limits are per replica anyway", cfg.Replicas)
	}
}

func validRate(r float64) bool { return r >= 0 && !math.IsNaN(r) && !math.IsInf(r, 0) }

// checkShutdown fills and checks the graceful-shutdown bound.
func (cfg *Config) checkShutdown(p *problems) {
	if cfg.ShutdownTimeout < 0 {
		p.add("shutdown_timeout %v: want >= 0", cfg.ShutdownTimeout)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
}

// checkVerification checks the settings that reach every route's
// Verifier: leeway, algorithms, types and required claims.
func (cfg *Config) checkVerification(p *problems) {
	if l := cfg.Leeway; l != nil && (*l < 0 || *l > maxLeeway) {
		p.add("leeway %v: want 0 to %v", *l, maxLeeway)
	}
	allowed := middleware.DefaultAlgorithms()
	for _, a := range cfg.Algorithms {
		switch {
		case strings.EqualFold(a, "none"):
			p.add(`algorithms: "none" is never accepted`)
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			p.add("algorithms: %q needs a shared secret; the gateway verifies with the provider's public keys only", a)
		case !slices.Contains(allowed, a):
			p.add("algorithms: %q is not supported (want some of %s)", a, strings.Join(allowed, ", "))
		}
	}
	for _, typ := range cfg.Types {
		if !validToken(typ, "/+.-") {
			p.add("types: %q is not a media type such as at+jwt", typ)
		}
	}
	if len(cfg.RequiredClaims) > maxRequiredClaims {
		p.add("require_claims: %d claims, at most %d", len(cfg.RequiredClaims), maxRequiredClaims)
	}
	for _, c := range cfg.RequiredClaims {
		if c == "" || !utf8.ValidString(c) || strings.ContainsFunc(c, unicode.IsControl) {
			p.add("require_claims: %q is not a claim name", c)
		}
	}
}

// checkRoutes checks every route and returns them with their effective
// settings (the top-level ones where a route has none), in config order.
func (cfg *Config) checkRoutes(p *problems, lookupEnv func(string) (string, bool)) []Route {
	if len(cfg.Routes) == 0 {
		p.add("no routes: give -upstream URL or routes in -config FILE")
	}
	routes := make([]Route, len(cfg.Routes))
	seen := map[string]bool{}
	seenMeta := map[string]bool{}
	for i, r := range cfg.Routes {
		where := fmt.Sprintf("route %d (%q)", i+1, r.Prefix)
		if seen[r.Prefix] {
			p.add("%s: duplicate prefix", where)
		}
		seen[r.Prefix] = true
		checkRoutePath(p, where, r)
		cfg.fillRouteRate(p, where, &r)
		cfg.fillRouteTimeout(p, where, &r)
		checkClaimHeaderNames(p, where, r.ClaimHeaders)
		checkStepUp(p, where, r)
		cfg.checkRouteCredentials(p, where, &r)
		if r.Policy != "" {
			if _, err := policy.Compile(r.Policy, policy.Options{}); err != nil {
				p.add("%s: policy: %v", where, err)
			}
		}
		cfg.checkRouteResource(p, where, &r, seenMeta)
		cfg.checkRouteBudget(p, where, r)
		r.UpstreamAuth = cfg.checkUpstreamAuth(p, where, r.UpstreamAuth, lookupEnv)
		switch {
		case r.Resource != nil:
			// A protected resource's audience is its own URI (RFC 8707,
			// MCP): the top-level audiences are another service's, and a
			// route's own would never be checked.
			if len(r.Audiences) > 0 && !slices.Equal(r.Audiences, []string{r.Resource.URI}) {
				p.add("%s: audiences do not apply to a resource route: the resource's uri is the audience its tokens must carry", where)
			}
			r.Audiences = []string{r.Resource.URI}
		case len(r.Audiences) == 0:
			r.Audiences = cfg.Audiences
		}
		routes[i] = r
	}
	return routes
}

// checkStepUp checks a route's step-up requirements (RFC 9470) by the
// library's own rules.
func checkStepUp(p *problems, where string, r Route) {
	if len(r.ACRValues) == 0 && r.MaxAuthAge == 0 {
		return
	}
	if err := (middleware.Route{RequireACR: r.ACRValues, MaxAuthAge: r.MaxAuthAge}).Validate(); err != nil {
		p.add("%s: acr_values/max_auth_age: %v", where, err)
	}
}

// checkRouteResource checks a route's types and resource, filling the
// resource's authorization servers from the providers when it names none.
// Two resource routes cannot share a metadata document URL.
func (cfg *Config) checkRouteResource(p *problems, where string, r *Route, seenMeta map[string]bool) {
	for _, t := range r.Types {
		if t == "" || strings.ContainsAny(t, " \t,\"\\") {
			p.add("%s: types: %q is not a media type", where, t)
		}
	}
	if r.Resource == nil {
		return
	}
	res := *r.Resource
	if len(res.AuthorizationServers) == 0 {
		for _, pv := range cfg.Providers { // checkProviders has folded the top-level one in
			if pv.Issuer != "" {
				res.AuthorizationServers = append(res.AuthorizationServers, pv.Issuer)
			}
		}
	}
	r.Resource = &res
	mr, err := res.middleware()
	if err == nil {
		err = mr.Validate()
	}
	if err != nil {
		p.add("%s: resource: %v", where, err)
		return
	}
	path := metadataPath(res.URI)
	if seenMeta[path] {
		p.add("%s: resource %q has the metadata URL of another route's", where, res.URI)
	}
	seenMeta[path] = true
}

// middleware is the library's form of the resource, its tools' policies
// compiled.
func (r Resource) middleware() (middleware.Resource, error) {
	mr := middleware.Resource{URI: r.URI, AuthorizationServers: r.AuthorizationServers, ScopesSupported: r.ScopesSupported, Name: r.Name}
	for name, tool := range r.Tools {
		rule := middleware.ToolRule{Scopes: tool.Scopes}
		if tool.Policy != "" {
			p, err := policy.Compile(tool.Policy, policy.Options{})
			if err != nil {
				return mr, fmt.Errorf("tools[%q]: policy: %w", name, err)
			}
			rule.Policy = p
		}
		if mr.Tools == nil {
			mr.Tools = make(map[string]middleware.ToolRule, len(r.Tools))
		}
		mr.Tools[name] = rule
	}
	return mr, nil
}

// metadataPath is the path where the resource's metadata document is
// served (RFC 9728 §3.1), for a valid URI.
func metadataPath(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	// By path only: the gateway serves the document whatever Host a proxy
	// in front sends, so two resources may not share a path.
	return "/.well-known/oauth-protected-resource" + p
}

// checkRoutePath checks a route's prefix, mode and upstream.
func checkRoutePath(p *problems, where string, r Route) {
	switch r.Mode {
	case "", ModeProxy:
	case ModeDecision:
		// A decision route answers; it never proxies, so anything that
		// only shapes the proxied request would be silently ignored.
		if r.Upstream != "" {
			p.add("%s: mode decision answers sub-requests and proxies nowhere: drop upstream", where)
		}
		if r.DropAuthorization || r.UpstreamAuth != nil {
			p.add("%s: mode decision proxies nowhere: drop_authorization and upstream_auth do not apply (the proxy in front sends the upstream request)", where)
		}
		if !strings.HasPrefix(r.Prefix, "/") || cleanPath(r.Prefix) != r.Prefix {
			p.add("%s: prefix must be a clean absolute path", where)
		}
		if r.StripPrefix && r.Prefix == "/" {
			p.add("%s: strip_prefix on the decision route \"/\" would take every path as the original: give the prefix the proxy sends to", where)
		}
		checkReservedOverlap(p, where, r)
		return
	default:
		p.add("%s: mode %q: want %s or %s", where, r.Mode, ModeProxy, ModeDecision)
	}
	if !strings.HasPrefix(r.Prefix, "/") || cleanPath(r.Prefix) != r.Prefix {
		p.add("%s: prefix must be a clean absolute path", where)
	}
	checkReservedOverlap(p, where, r)
	if !isHTTPURL(r.Upstream) {
		p.add("%s: upstream %q: want an absolute http(s) URL", where, r.Upstream)
	}
}

func checkReservedOverlap(p *problems, where string, r Route) {
	for _, rp := range reservedPaths {
		if prefixMatches(r.Prefix, rp) && r.Prefix != "/" {
			p.add("%s: overlaps the gateway's own %s", where, rp)
		}
	}
}

// parseTrustedProxies reads trusted_proxies: CIDR prefixes or single IPs.
// nil stays nil (the forwarded package's loopback default); an empty list
// stays empty (nobody is trusted).
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	if list == nil {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if pf, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pf.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted_proxies %q: want a CIDR prefix (10.0.0.0/8) or an IP address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// fillRouteRate gives r the top-level rate and burst where it has none,
// the default burst and weight, and checks that a request can ever pass.
func (cfg *Config) fillRouteRate(p *problems, where string, r *Route) {
	if r.Rate == nil {
		v := cfg.Rate
		r.Rate = &v
	} else if !validRate(*r.Rate) {
		p.add("%s: rate %v: want a number >= 0", where, *r.Rate)
	}
	if r.Burst == nil {
		v := cfg.Burst
		r.Burst = &v
	} else if *r.Burst < 0 {
		p.add("%s: burst %d: want >= 0", where, *r.Burst)
	}
	if *r.Rate > 0 && *r.Burst == 0 {
		v := max(1, int(math.Ceil(*r.Rate)))
		r.Burst = &v
	}
	if r.Weight < 0 {
		p.add("%s: weight %d: want >= 0", where, r.Weight)
	}
	if r.Weight == 0 {
		r.Weight = 1
	}
	if *r.Rate > 0 && r.Weight > *r.Burst {
		p.add("%s: weight %d exceeds burst %d: no request could ever pass", where, r.Weight, *r.Burst)
	}
}

// checkClaimHeaderNames refuses claim headers the gateway must not set
// (hop-by-hop, credentials, forwarding headers). These rules are stricter
// than middleware's, so Verifier.With never refuses a validated route.
func checkClaimHeaderNames(p *problems, where string, m map[string]string) {
	for claim, h := range m {
		if claim == "" || !ClaimHeaderAllowed(h) {
			p.add("%s: claim_headers %q: %q is not a header the gateway may set", where, claim, h)
		}
	}
}

// joinLines joins errors one per line, so a config with several mistakes
// reports them all at once.
func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, c := range h {
		if c > 127 || !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// validToken reports whether s is non-empty ASCII letters and digits, plus
// the given punctuation.
func validToken(s, punct string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 127 || !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune(punct, c)) {
			return false
		}
	}
	return true
}

// ClaimHeaderAllowed reports whether the gateway may set the header name
// from a claim (Route.ClaimHeaders): a valid name that is not hop-by-hop, a
// credential or a forwarding header. Validate refuses the others; a
// program's own flags can refuse them as they are given.
func ClaimHeaderAllowed(name string) bool { return validHeaderName(name) && !isHopOrReserved(name) }

func isHopOrReserved(h string) bool {
	switch strings.ToLower(h) {
	case "authorization", "host", "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
		"te", "trailer", "transfer-encoding", "upgrade", "content-length", "cookie", "x-forwarded-for",
		"x-forwarded-host", "x-forwarded-proto", "forwarded":
		return true
	}
	return false
}
