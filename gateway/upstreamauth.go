package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtgate/jwtgate/exchange"
	"github.com/jwtgate/jwtgate/internal/oauthclient"
	"github.com/jwtgate/jwtgate/internal/upstreamcred"
	"github.com/jwtgate/jwtgate/internaltoken"
)

// checkUpstreamAuth returns a copy of ua with its default header and its
// credential read: the static one from the environment, an exchange's
// client secret or key, a signer's settings checked against
// internal_tokens.
func (cfg *Config) checkUpstreamAuth(p *problems, where string, ua *UpstreamAuth, lookupEnv func(string) (string, bool)) *UpstreamAuth {
	if ua == nil {
		return nil
	}
	cp := *ua
	// Filled here for every kind (static, exchange, sign): each then
	// sends Header and Scheme as they are.
	cp.Header, cp.Scheme = upstreamcred.Defaults(cp.Header, cp.Scheme)
	if !validHeaderName(cp.Header) {
		p.add("%s: upstream_auth header %q is not a valid header name", where, cp.Header)
	}
	n := 0
	for _, set := range []bool{cp.Env != "", cp.Exchange != nil, cp.Sign != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		p.add("%s: upstream_auth needs env (the variable holding the credential), exchange or sign", where)
	case n > 1:
		p.add("%s: upstream_auth: set one of env, exchange and sign", where)
	}
	if cp.Env != "" {
		if v, ok := lookupEnv(cp.Env); !ok || v == "" {
			p.add("%s: upstream_auth: environment variable %s is not set", where, cp.Env)
		} else {
			cp.value = v
		}
	}
	if cp.Exchange != nil {
		x := *cp.Exchange
		x.check(p, where+": upstream_auth: exchange", lookupEnv)
		cp.Exchange = &x
	}
	if cp.Sign != nil {
		s := *cp.Sign
		cfg.checkSign(p, where+": upstream_auth: sign", &s)
		cp.Sign = &s
	}
	return &cp
}

// check reads the exchange's secret or key and checks the rest by
// building the library's Transport once.
func (x *UpstreamExchange) check(p *problems, where string, lookupEnv func(string) (string, bool)) {
	x.secret, x.key = readClientCredentials(p, where, x.ClientSecretEnv, x.ClientSecretFile, x.PrivateKeyFile, lookupEnv)
	if x.Timeout < 0 || x.Timeout > time.Hour {
		p.add("%s: timeout %v: want 0 (default %v) to 1h", where, x.Timeout, exchange.DefaultTimeout)
	}
	ec, err := x.config()
	if err != nil {
		p.add("%s: %v", where, err)
		return
	}
	if (x.ClientSecretEnv != "" || x.ClientSecretFile != "") && x.secret == "" || x.PrivateKeyFile != "" && x.key == nil {
		return // reported above; New would only repeat it
	}
	tr, err := exchange.New(ec)
	if err != nil {
		p.add("%s: %v", where, strings.TrimPrefix(err.Error(), exchange.ErrInvalidConfig.Error()+": "))
		return
	}
	tr.Close()
}

// config is the library's configuration of x (without Next, HTTPClient,
// Logger: the gateway's).
func (x *UpstreamExchange) config() (exchange.Config, error) {
	var ec exchange.Config
	if err := ec.Grant.UnmarshalText([]byte(x.Grant)); err != nil {
		return ec, fmt.Errorf("grant %q: want token-exchange or jwt-bearer", x.Grant)
	}
	if err := ec.Binding.UnmarshalText([]byte(x.Binding)); err != nil {
		return ec, fmt.Errorf("binding %q: want refuse or verified_at_edge", x.Binding)
	}
	if err := ec.Client.Audience.UnmarshalText([]byte(x.AssertionAudience)); err != nil {
		return ec, fmt.Errorf("assertion_audience %q: want issuer or endpoint", x.AssertionAudience)
	}
	method := x.ClientAuth
	if method == "" {
		switch {
		case x.ClientSecretEnv != "" || x.ClientSecretFile != "":
			method = "client_secret_basic"
		case x.PrivateKeyFile != "":
			method = "private_key_jwt"
		}
	}
	if err := ec.Client.Method.UnmarshalText([]byte(method)); err != nil {
		return ec, fmt.Errorf("client_auth %q: want client_secret_basic, client_secret_post, private_key_jwt or none", x.ClientAuth)
	}
	ec.Client.ClientID = x.ClientID
	ec.Client.ClientSecret = x.secret
	if x.key != nil {
		ec.Client.PrivateKey = x.key
	}
	ec.Client.KeyID = x.KeyID
	ec.TokenEndpoint, ec.Issuer = x.TokenEndpoint, x.Issuer
	ec.Audience, ec.Resource, ec.Scopes = x.Audience, x.Resource, x.Scopes
	ec.SubjectTokenType, ec.RequestedTokenType = x.SubjectTokenType, x.RequestedTokenType
	ec.Timeout = x.Timeout
	return ec, nil
}

// checkSign checks a route's internal-token settings.
func (cfg *Config) checkSign(p *problems, where string, s *UpstreamSign) {
	if cfg.InternalTokens == nil {
		p.add("%s: needs internal_tokens (the gateway's issuer and signing keys)", where)
	}
	if s.Audience == "" {
		p.add("%s: audience is required (the upstream service the token is for)", where)
	}
	if s.TTL < 0 || s.TTL > internaltoken.MaxTTL {
		p.add("%s: ttl %v: want 0 (default %v) to %v", where, s.TTL, internaltoken.DefaultTTL, internaltoken.MaxTTL)
	}
	for _, c := range s.Claims {
		switch c {
		case "":
			p.add("%s: claims: an empty claim name", where)
		case "iss", "aud", "exp", "iat", "nbf", "jti":
			p.add("%s: claims: %s is the gateway's own, it cannot be copied", where, c)
		case "cnf":
			p.add("%s: claims: cnf cannot be copied (it would bind the token to the client's key, which the gateway does not hold)", where)
		}
	}
}

// checkInternalTokens checks internal_tokens and loads its keys once.
func (cfg *Config) checkInternalTokens(p *problems) {
	it := cfg.InternalTokens
	if it == nil {
		return
	}
	u, err := url.Parse(it.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		p.add("internal_tokens: issuer %q: want an absolute http(s) URL without query or fragment (the gateway as its services reach it)", it.Issuer)
		return
	}
	if _, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Files: it.KeyFiles, Dir: it.KeyDir}); err != nil {
		p.add("internal_tokens: %v", strings.TrimPrefix(err.Error(), internaltoken.ErrInvalidConfig.Error()+": "))
	}
	for _, path := range it.paths() {
		for i, r := range cfg.Routes {
			if r.Prefix != "/" && prefixMatches(r.Prefix, path) {
				p.add("route %d (%q): overlaps the gateway's own %s (internal_tokens)", i+1, r.Prefix, path)
			}
		}
	}
}

// paths are where the gateway publishes: under the issuer's path.
func (it *InternalTokens) paths() []string {
	u, err := url.Parse(it.Issuer)
	if err != nil {
		return nil
	}
	base := strings.TrimSuffix(u.Path, "/")
	return []string{base + internaltoken.JWKSPath, base + internaltoken.DiscoveryPath}
}

// newInternalTokens holds the key ring of internal_tokens, if any: the
// one an earlier generation has for the same settings (a retired key it
// still publishes stays published across a reload), or a new one.
func (gen *generation) newInternalTokens() error {
	it := gen.cfg.InternalTokens
	if it == nil {
		return nil
	}
	g := gen.g
	v, err := gen.hold(fmt.Sprintf("internal tokens %q %q", it.KeyFiles, it.KeyDir), "internal token keys", func() (any, func() error, bool, error) {
		ring, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Files: it.KeyFiles, Dir: it.KeyDir, Now: g.now, Logger: g.log})
		return ring, nil, false, err
	})
	if err != nil {
		return fmt.Errorf("%w: internal_tokens: %w", ErrInvalidConfig, err)
	}
	gen.ring = v.(*internaltoken.KeyRing)
	return nil
}

// perUser reports whether ua makes a credential per request (exchange or
// sign) rather than sending one static value.
func (ua *UpstreamAuth) perUser() bool {
	return ua != nil && (ua.Exchange != nil || ua.Sign != nil)
}

// staticCredential is the header value of a static upstream_auth ("" for
// none, or a per-request one).
func staticCredential(ua *UpstreamAuth) string {
	if ua == nil || ua.perUser() {
		return ""
	}
	return upstreamcred.Value(ua.Scheme, ua.value) // Validate filled the defaults
}

// credentialTransport is the route's transport with its per-request
// credential: an exchange, an internal token, or next itself.
func (gen *generation) credentialTransport(rc Route, next http.RoundTripper) (http.RoundTripper, error) {
	g, ua := gen.g, rc.UpstreamAuth
	switch {
	case ua == nil:
		return next, nil
	case ua.Exchange != nil:
		ec, err := ua.Exchange.config()
		if err != nil {
			return nil, err
		}
		ec.Header, ec.Scheme = ua.Header, ua.Scheme
		// A route whose exchange and upstream transport stay the same keeps
		// its exchange, and with it the tokens it has cached, across
		// reloads: next is then built alike (the same held upstream
		// transport under the route's response-header time-out, all that
		// routeTransport takes from the route).
		keyed := ec
		keyed.Client.PrivateKey = nil // %+v would print its address: by fingerprint instead
		key := fmt.Sprintf("exchange %q %v %+v %s %+v", rc.Prefix, rc.ResponseHeaderTimeout, keyed,
			oauthclient.Fingerprint(ec.Client.PrivateKey), gen.cfg.UpstreamTransport)
		calls, err := g.exchangeCounter()
		if err != nil {
			return nil, err
		}
		prefix := rc.Prefix
		v, err := gen.hold(key, fmt.Sprintf("token exchange %q", prefix), func() (any, func() error, bool, error) {
			ec.Next, ec.HTTPClient, ec.Logger, ec.Now = next, g.opts.HTTPClient, g.log, g.now
			ec.OnExchange = func(ev exchange.Event) { calls.WithLabelValues(prefix, exchangeResult(ev.Err)).Inc() }
			tr, err := exchange.New(ec)
			if err != nil {
				return nil, nil, false, err
			}
			return tr, tr.Close, false, nil
		})
		if err != nil {
			return nil, err
		}
		return v.(*exchange.Transport), nil
	case ua.Sign != nil:
		var aud []string
		if ua.Sign.Audience != "" {
			aud = []string{ua.Sign.Audience}
		}
		var claims []string
		if len(ua.Sign.Claims) > 0 {
			claims = slices.Clone(ua.Sign.Claims)
		}
		return internaltoken.New(internaltoken.Config{Keys: gen.ring, Issuer: gen.cfg.InternalTokens.Issuer, Audience: aud,
			TTL: ua.Sign.TTL, Claims: claims, Header: ua.Header, Scheme: ua.Scheme, Next: next, Now: g.now})
	}
	return next, nil
}

// exchangeCounter returns the token-exchange counter, registering it on
// the first route that exchanges.
func (g *Gateway) exchangeCounter() (*prometheus.CounterVec, error) {
	if g.exchanges == nil {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jwtgate", Subsystem: "gateway", Name: "token_exchanges_total",
			Help: "Calls to a route's token endpoint (cache hits are not calls), by route prefix and result: ok, unavailable (the request was answered 503), denied (403) or error (502).",
		}, []string{"route", "result"})
		if err := g.registry.Register(c); err != nil {
			return nil, err
		}
		g.exchanges = c
	}
	return g.exchanges, nil
}

func exchangeResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, exchange.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, exchange.ErrDenied):
		return "denied"
	}
	return "error"
}

// credentialError answers a request whose upstream credential could not
// be had, and reports whether err was such a failure. The upstream saw
// nothing of the request.
func (g *Gateway) credentialError(w http.ResponseWriter, r *http.Request, prefix string, err error) bool {
	switch {
	case errors.Is(err, exchange.ErrExchange):
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return true // the client left
		}
		g.log.Warn("gateway: token exchange failed", "route", prefix, "status", exchange.Status(err), "err", err)
		exchange.WriteError(w, r, err, 0)
		return true
	case errors.Is(err, internaltoken.ErrSign):
		g.log.Warn("gateway: internal token failed", "route", prefix, "err", err)
		internaltoken.WriteError(w, r, err)
		return true
	}
	return false
}
