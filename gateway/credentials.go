package gateway

import (
	"cmp"
	"crypto"
	"errors"
	"fmt"
	"net/http/httputil"
	"slices"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/apikey/redisapikey"
	"github.com/jwtgate/jwtgate/internal/oauthclient"
	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/redis/go-redis/v9"
)

// Introspection checks opaque access tokens at an authorization server's
// introspection endpoint (RFC 7662), for routes whose credentials list
// introspection. Answers are cached by endpoint and the token's SHA-256;
// an endpoint that is down, slow or answers 5xx or 401 makes the request
// 503, never 401. Secrets come from the environment or a file, never from
// this file.
type Introspection struct {
	// Endpoint is the introspection endpoint (https). Empty means the one
	// the authorization server's metadata names (issuer below).
	Endpoint string `yaml:"endpoint"`
	// Issuer is the authorization server whose metadata names the
	// endpoint (RFC 8414, then OpenID discovery), and the name routes bind
	// to it by (introspection_issuer). Empty means the top-level issuer
	// (a provider's introspection: always the provider's issuer).
	Issuer string `yaml:"issuer"`
	// ClientID is the gateway's client id at the authorization server.
	ClientID string `yaml:"client_id"`
	// AuthMethod is client_secret_basic, client_secret_post,
	// private_key_jwt or none. Empty means client_secret_basic with a
	// secret, private_key_jwt with a private key, else none.
	AuthMethod string `yaml:"auth_method"`
	// ClientSecretEnv names the environment variable holding the client
	// secret. Empty means none.
	ClientSecretEnv string `yaml:"client_secret_env"`
	// ClientSecretFile is a file holding the client secret (a mounted
	// Secret; trailing line breaks are dropped). Empty means none. Set it
	// or client_secret_env, not both.
	ClientSecretFile string `yaml:"client_secret_file"`
	// PrivateKeyFile is a PEM private key (RSA of 2048 bits or more, ECDSA
	// P-256, P-384 or P-521, or Ed25519) that signs private_key_jwt client
	// assertions. Empty means none.
	PrivateKeyFile string `yaml:"private_key_file"`
	// KeyID is the client assertions' kid. Empty means none.
	KeyID string `yaml:"key_id"`
	// AssertionAudience is the private_key_jwt assertion's aud: issuer
	// (the issuer identifier, RFC 10070; the endpoint URL when there is no
	// issuer) or endpoint (the introspection endpoint URL, for servers
	// that accept only the URL the assertion is sent to). Empty means
	// issuer.
	AssertionAudience string `yaml:"assertion_audience"`
	// Timeout bounds each call to the endpoint. 0 means 5s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAge bounds how long an active answer is reused (it also ends at
	// the token's exp): a revoked token works at most this long. 0 means
	// 5m.
	MaxAge time.Duration `yaml:"max_age"`
	// NegativeMaxAge is how long an inactive answer is reused. 0 means
	// 10s; negative means not cached.
	NegativeMaxAge time.Duration `yaml:"negative_max_age"`
	// CacheSize bounds the cached answers. 0 means 10000.
	CacheSize int `yaml:"cache_size"`
	// IntrospectJWTs also introspects JWTs that verify, on routes that
	// list introspection, so a revoked JWT is refused before its exp
	// (cached the same way). false means JWTs are checked locally only.
	IntrospectJWTs bool `yaml:"introspect_jwts"`

	secret string        // read by Validate
	key    crypto.Signer // read by Validate
}

// APIKeys holds API keys for routes whose credentials list api_key: stored
// as their SHA-256 (jwtgate-keygen mints a key and prints its stored
// form), compared in constant time, never logged.
type APIKeys struct {
	// File is a key file (JSON Lines, one stored key a line), reloaded
	// when it changes: a key removed from it stops working within
	// reload_interval. Empty means none.
	File string `yaml:"file"`
	// ReloadInterval is how often file is checked. 0 means 5s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// Env names an environment variable holding stored keys in the key
	// file's format. Empty means none.
	Env string `yaml:"env"`
	// Redis also looks keys up in the top-level redis, under
	// "jwtgate:apikey:" and the key's hex SHA-256. false means not.
	Redis bool `yaml:"redis"`
	// Prefix is the prefix every key has ("jg_", jwtgate-keygen's
	// default): a bearer token without it goes to introspection, not to
	// the keys. Empty means every bearer token that is not a JWT.
	Prefix string `yaml:"prefix"`
	// Header names a header carrying a key (x-api-key, as Anthropic's
	// SDKs send it), besides "Authorization: Bearer". Empty means bearer
	// only.
	Header string `yaml:"header"`

	records []apikey.Record // Env's, read by Validate
}

// checkCredentials checks the introspection and API-key settings and
// reads their secrets. It runs before checkProviders, which moves the
// top-level issuer into Providers: an introspection that relies on it for
// discovery records it first.
func (cfg *Config) checkCredentials(p *problems, lookupEnv func(string) (string, bool)) {
	for _, c := range cfg.Credentials {
		if _, ok := textEnum[middleware.CredentialKind](c); !ok {
			p.add("credentials: %q is not jwt, introspection or api_key", c)
		}
	}
	cfg.checkIntrospections(p, lookupEnv)
	cfg.checkAPIKeys(p, lookupEnv)
}

// checkIntrospections checks the top-level introspection and the
// providers'.
func (cfg *Config) checkIntrospections(p *problems, lookupEnv func(string) (string, bool)) {
	if in := cfg.Introspection; in != nil {
		cp := *in
		if cp.Endpoint == "" && cp.Issuer == "" {
			cp.Issuer = cfg.Issuer
		}
		cfg.Introspection = &cp
		checkIntrospection(p, "introspection", &cp, lookupEnv)
	}
	providers := slices.Clone(cfg.Providers)
	for i := range providers {
		if in := providers[i].Introspection; in != nil {
			cp := *in
			where := fmt.Sprintf("provider %d (%q): introspection", i+1, providers[i].Issuer)
			switch {
			case providers[i].Issuer == "":
				p.add("%s: the provider needs an issuer (routes name the endpoint by it)", where)
			case cp.Issuer != "" && cp.Issuer != providers[i].Issuer:
				p.add("%s: issuer is the provider's", where)
			}
			cp.Issuer = providers[i].Issuer
			providers[i].Introspection = &cp
			checkIntrospection(p, where, &cp, lookupEnv)
		}
	}
	cfg.Providers = providers
	seen := map[string]bool{}
	for _, in := range cfg.introspections() {
		if seen[in.Issuer] {
			p.add("introspection: two endpoints for issuer %q", in.Issuer)
		}
		seen[in.Issuer] = true
	}
}

// checkAPIKeys checks the API-key settings.
func (cfg *Config) checkAPIKeys(p *problems, lookupEnv func(string) (string, bool)) {
	if ak := cfg.APIKeys; ak != nil {
		switch {
		case ak.File == "" && ak.Env == "" && !ak.Redis:
			p.add("api_keys: set file, env or redis")
		case ak.Redis && cfg.Redis.IsZero():
			p.add("api_keys: redis needs the top-level redis")
		case ak.ReloadInterval < 0:
			p.add("api_keys: reload_interval must not be negative")
		}
		if ak.Header != "" && !validHeaderName(ak.Header) {
			p.add("api_keys: header %q is not a valid header name", ak.Header)
		}
		if ak.Env != "" {
			cp := *ak
			cfg.APIKeys = &cp
			v, ok := lookupEnv(ak.Env)
			if !ok {
				p.add("api_keys: environment variable %s is not set", ak.Env)
			}
			recs, err := apikey.ParseRecords(strings.NewReader(v))
			if err != nil {
				p.add("api_keys: %s: %v", ak.Env, err)
			}
			cp.records = append([]apikey.Record{}, recs...) // not nil: a source, even with no keys
		}
	}
}

// introspections are the configured introspection endpoints: the
// top-level one, then each provider's.
func (cfg *Config) introspections() []*Introspection {
	var out []*Introspection
	if cfg.Introspection != nil {
		out = append(out, cfg.Introspection)
	}
	for _, pv := range cfg.Providers {
		if pv.Introspection != nil {
			out = append(out, pv.Introspection)
		}
	}
	return out
}

// introspectionFor is the introspection a route binds to: the one of
// issuer, or the only one when issuer is "".
func (cfg *Config) introspectionFor(issuer string) (*Introspection, error) {
	all := cfg.introspections()
	if issuer == "" {
		switch len(all) {
		case 0:
			return nil, errors.New("introspection needs the top-level introspection or a provider's")
		case 1:
			return all[0], nil
		}
		return nil, errors.New("several introspection endpoints: set introspection_issuer")
	}
	for _, in := range all {
		if in.Issuer == issuer {
			return in, nil
		}
	}
	return nil, fmt.Errorf("introspection_issuer %q has no introspection", issuer)
}

func checkIntrospection(p *problems, where string, in *Introspection, lookupEnv func(string) (string, bool)) {
	if in.Endpoint == "" && in.Issuer == "" {
		p.add("%s: set endpoint, or issuer (or the top-level issuer) for discovery", where)
	}
	if in.AuthMethod != "" {
		if _, ok := textEnum[introspect.AuthMethod](in.AuthMethod); !ok {
			p.add("%s: auth_method %q is not client_secret_basic, client_secret_post, private_key_jwt or none", where, in.AuthMethod)
		}
	}
	if _, ok := textEnum[introspect.AssertionAudience](in.AssertionAudience); !ok {
		p.add("%s: assertion_audience %q is not issuer or endpoint", where, in.AssertionAudience)
	}
	in.secret, in.key = readClientCredentials(p, where, in.ClientSecretEnv, in.ClientSecretFile, in.PrivateKeyFile, lookupEnv)
	// The client's own rules (auth method against the secrets, URLs),
	// checked without starting it: New makes no call and no goroutine.
	if ic, err := introspect.New(in.config()); err != nil {
		p.add("%s: %v", where, err)
	} else {
		ic.Close()
	}
}

// config is the introspect.Config the settings describe (secrets
// included, once Validate has read them).
func (in *Introspection) config() introspect.Config {
	c := introspect.Config{Endpoint: in.Endpoint, Issuer: in.Issuer, ClientID: in.ClientID, ClientSecret: in.secret,
		PrivateKey: in.key, KeyID: in.KeyID, AssertionAudience: must(textEnum[introspect.AssertionAudience](in.AssertionAudience)), Timeout: in.Timeout, MaxAge: in.MaxAge, NegativeMaxAge: in.NegativeMaxAge,
		CacheSize: in.CacheSize, IntrospectJWTs: in.IntrospectJWTs}
	if in.AuthMethod != "" {
		c.AuthMethod = must(textEnum[introspect.AuthMethod](in.AuthMethod))
	}
	return c
}

// readClientCredentials reads an OAuth client's secret (from the
// environment or a file, not both) and private key (a PEM file), for an
// introspection or a token exchange; problems go to p.
func readClientCredentials(p *problems, where, secretEnv, secretFile, keyFile string, lookupEnv func(string) (string, bool)) (string, crypto.Signer) {
	secret, err := oauthclient.Secret(lookupEnv, secretEnv, secretFile)
	if err != nil {
		p.add("%s: %v", where, err)
	}
	var key crypto.Signer
	if keyFile != "" {
		if key, err = oauthclient.ReadPrivateKey(keyFile); err != nil {
			p.add("%s: private_key_file: %v", where, err)
		}
	}
	return secret, key
}

// checkRouteCredentials checks a route's credential order against what
// the config provides.
func (cfg *Config) checkRouteCredentials(p *problems, where string, r *Route) {
	if len(r.Credentials) == 0 {
		r.Credentials = cfg.Credentials
	}
	if r.IntrospectionIssuer != "" && !slices.Contains(r.Credentials, "introspection") {
		p.add("%s: introspection_issuer without introspection in credentials", where)
	}
	for i, c := range r.Credentials {
		k, ok := textEnum[middleware.CredentialKind](c)
		switch {
		case !ok:
			p.add("%s: credentials: %q is not jwt, introspection or api_key", where, c)
		case slices.Contains(r.Credentials[:i], c):
			p.add("%s: credentials: %s listed twice", where, c)
		case k == middleware.CredentialIntrospection:
			if _, err := cfg.introspectionFor(r.IntrospectionIssuer); err != nil {
				p.add("%s: credentials: %v", where, err)
			}
		case k == middleware.CredentialAPIKey && cfg.APIKeys == nil:
			p.add("%s: credentials: api_key needs the top-level api_keys", where)
		}
	}
}

// newCredentials holds the introspection clients and the API-key store
// the routes use: an earlier generation's when their settings are the same
// (their caches, and the key file's watch, carry on across a reload), new
// ones otherwise.
func (gen *generation) newCredentials() error {
	g := gen.g
	all := gen.cfg.introspections()
	if len(all) > 0 {
		configs := make([]introspect.Config, len(all))
		var key strings.Builder
		key.WriteString("introspection")
		for i, in := range all {
			configs[i] = in.config()
			keyed := configs[i]
			keyed.PrivateKey = nil // %+v would print its address: by fingerprint instead
			fmt.Fprintf(&key, " %+v %s", keyed, oauthclient.Fingerprint(configs[i].PrivateKey))
		}
		v, err := gen.hold(key.String(), "introspection", func() (any, func() error, bool, error) {
			size := 0
			for _, in := range all {
				size += cmp.Or(in.CacheSize, introspect.DefaultCacheSize)
			}
			// One cache for every endpoint: it keys answers by endpoint, so
			// an answer one endpoint gave is never used on a route bound to
			// another.
			shared := introspect.NewCache(size)
			clients := make([]*introspect.Client, 0, len(configs))
			closeAll := func() error {
				var errs []error
				for _, c := range clients {
					errs = append(errs, c.Close())
				}
				return errors.Join(errs...)
			}
			for _, c := range configs {
				c.Cache, c.Logger, c.OnIntrospect = shared, g.log, g.metrics.OnIntrospect
				ic, err := introspect.New(c)
				if err != nil {
					closeAll()
					return nil, nil, false, fmt.Errorf("introspection: %w", err)
				}
				clients = append(clients, ic)
			}
			return clients, closeAll, false, nil
		})
		if err != nil {
			return err
		}
		gen.introspectors = map[*Introspection]*introspect.Client{}
		for i, ic := range v.([]*introspect.Client) {
			gen.introspectors[all[i]] = ic
		}
	}
	if ak := gen.cfg.APIKeys; ak != nil {
		var client redis.UniversalClient
		key := fmt.Sprintf("api keys %q %v %+v %q", ak.File, ak.ReloadInterval, ak.records, ak.Prefix)
		if ak.Redis {
			var err error
			if client, err = gen.redisClient(); err != nil {
				return err
			}
			key += " " + gen.redisKey()
		}
		v, err := gen.hold(key, "api keys", func() (any, func() error, bool, error) {
			// The environment's keys as Validate read them (Options.LookupEnv).
			c := apikey.Config{File: ak.File, ReloadInterval: ak.ReloadInterval, Records: ak.records, Prefix: ak.Prefix, Logger: g.log}
			if client != nil {
				src, err := redisapikey.New(redisapikey.Config{Client: client})
				if err != nil {
					return nil, nil, false, err
				}
				c.Source = src
			}
			s, err := apikey.New(c)
			if err != nil {
				return nil, nil, false, fmt.Errorf("api_keys: %w", err)
			}
			return s, s.Close, false, nil
		})
		if err != nil {
			return err
		}
		gen.apiKeys = v.(*apikey.Store)
	}
	return nil
}

// routeCredentials sets the route's credential order and the stores it
// names.
func (gen *generation) routeCredentials(mr *middleware.Route, rc Route) {
	for _, c := range rc.Credentials {
		k := must(textEnum[middleware.CredentialKind](c))
		mr.Credentials = append(mr.Credentials, k)
		switch k {
		case middleware.CredentialIntrospection:
			in, _ := gen.cfg.introspectionFor(rc.IntrospectionIssuer) // Validate has checked it
			mr.Introspection = gen.introspectors[in]
		case middleware.CredentialAPIKey:
			mr.APIKeys = gen.apiKeys
		}
	}
}

// dropAPIKey keeps an API key from the upstream: it is the gateway's
// credential, never the upstream's, and an upstream's logs are no place for
// it. The key header goes whatever it held; Authorization goes when the key
// came in it.
func dropAPIKey(pr *httputil.ProxyRequest, keyHeader string) {
	if keyHeader != "" {
		delete(pr.Out.Header, keyHeader) // canonical: buildRoute made it so
	}
	if c, ok := middleware.ClaimsFromContext(pr.In.Context()); ok && c.Kind() == middleware.CredentialAPIKey {
		delete(pr.Out.Header, "Authorization")
	}
}
