package gateway

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/jwtgate/jwtgate/internal/routepath"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/policy"
)

// ErrInvalidConfig is wrapped by every configuration error: bad flags, an
// unreadable or invalid config file, a missing environment variable.
var ErrInvalidConfig = errors.New("gateway: invalid configuration")

// ErrConfig is ErrInvalidConfig's former name: one name for the idea in
// every jwtgate package.
//
// Deprecated: use ErrInvalidConfig.
var ErrConfig = ErrInvalidConfig

// DefaultListen is where the gateway listens when neither -listen nor the
// config file says otherwise. Loopback: exposing it is a deliberate choice.
const DefaultListen = "127.0.0.1:8080"

// maxConfigBytes bounds the config file; a real one is a few KiB.
const maxConfigBytes = 1 << 20

// maxLeeway bounds Leeway: clocks a minute apart are common, an hour apart
// is a misconfiguration, and more would let long-expired tokens through.
const maxLeeway = time.Hour

// maxRequiredClaims is the middleware's own bound on RequiredClaims.
const maxRequiredClaims = 64

// Config is the gateway's whole configuration, as the YAML config file spells
// it (the yaml tags are the keys). Flags override the top-level fields. The
// zero value is not valid: New and Validate need at least an issuer or a
// JWKS URL and one route. A Config is plain data; New copies what it keeps.
type Config struct {
	// Listen is the gateway's address. Empty means DefaultListen.
	Listen string `yaml:"listen"`
	// Issuer is the accepted `iss`. Without JWKSURL the JWK Set is found
	// from it by OIDC discovery. Empty with JWKSURL set means iss is not
	// checked (New logs a warning); empty with neither, and no Providers,
	// is an error.
	Issuer string `yaml:"issuer"`
	// JWKSURL is the JWK Set's URL. Empty means discovery from Issuer.
	JWKSURL string `yaml:"jwks_url"`
	// Providers are further identity providers, for tokens from several
	// at once: a token's iss picks the provider whose keys verify it, and
	// an iss that is none of them is refused before any key look-up. With
	// more than one provider in all, each needs an Issuer. Empty means
	// only the provider of Issuer and JWKSURL.
	Providers []Provider `yaml:"providers"`
	// Audiences are the accepted `aud` values (any one matches) for routes
	// that don't set their own. Empty means the audience is not checked.
	Audiences []string `yaml:"audiences"`
	// Algorithms is the alg allow-list, a subset of
	// middleware.DefaultAlgorithms (the gateway has keys from JWK Sets only,
	// so never HS*). Empty means all of them.
	Algorithms []string `yaml:"algorithms"`
	// Types is the typ allow-list ("at+jwt" keeps ID tokens of the same
	// issuer out, RFC 9068). Empty means typ is not checked.
	Types []string `yaml:"types"`
	// RequiredClaims are claims every token must carry (any value), beyond
	// exp. Empty means none.
	RequiredClaims []string `yaml:"require_claims"`
	// Leeway is the clock skew allowed for exp, nbf and iat. nil means 30s;
	// 0 means none.
	Leeway *time.Duration `yaml:"leeway"`
	// Rate is the requests (weight units) per second each subject may spend,
	// for routes that don't set their own. 0 means no limit.
	Rate float64 `yaml:"rate"`
	// Burst is how many units a subject may spend at once. 0 means
	// max(1, ceil(Rate)).
	Burst int `yaml:"burst"`
	// Redis is a Redis address (host:port); when set, limits are shared by
	// every replica using it. Empty means in-process limits.
	Redis string `yaml:"redis"`
	// Replicas is how many gateway replicas share the Redis limits: while
	// Redis is down each one limits to its share (1/Replicas), so an outage
	// does not multiply the shared limit by the replica count. 0 means 1.
	Replicas int `yaml:"replicas"`
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// once Serve's ctx ends (SIGINT/SIGTERM for the program). 0 means 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the addresses (CIDR prefixes, or single IPs)
	// whose forwarded headers count: scheme and host (Forwarded,
	// X-Forwarded-Proto/-Host/-Port) and Client-Cert everywhere, and, on
	// a decision route only, the original request's method and target
	// (X-Forwarded-Uri/-Method from Traefik and Caddy, X-Original-URI/-Method
	// from nginx; present but unusable, or disagreeing: 400). From any
	// other address they are ignored. nil means loopback only; an empty
	// list trusts nobody.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// DPoP configures DPoP-bound tokens (RFC 9449; see DPoP). The zero
	// value is off; a route may set its own mode.
	DPoP DPoP `yaml:"dpop"`
	// CertificateBoundTokens accepts tokens bound to a client certificate
	// (cnf["x5t#S256"], RFC 8705) when the request presents it: on the TLS
	// connection or in a trusted proxy's Client-Cert header. false means
	// such tokens are refused.
	CertificateBoundTokens bool `yaml:"certificate_bound_tokens"`
	// UpstreamTransport sizes the connections to the upstreams (idle
	// connections per host, time-outs); zero fields mean the defaults.
	UpstreamTransport UpstreamTransport `yaml:"upstream_transport"`
	// ResponseHeaderTimeout bounds the wait for an upstream's response
	// headers (then 504), for routes that don't set their own. 0 means
	// DefaultResponseHeaderTimeout (60s).
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
	// Routes maps path prefixes to upstreams; the longest matching prefix
	// wins. -upstream adds a catch-all "/" route, -decision a catch-all
	// decision route. Empty is an error.
	Routes []Route `yaml:"routes"`
}

// Route modes (Route.Mode).
const (
	// ModeProxy proxies the route's requests to its upstream.
	ModeProxy = "proxy"
	// ModeDecision answers the route's requests as a forward-auth decision
	// service (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth,
	// Envoy's HTTP ext_authz): 200 with the claim headers, or the
	// rejection, for the original request a trusted proxy describes.
	ModeDecision = "decision"
)

// Provider is one identity provider.
type Provider struct {
	// Issuer is the accepted iss; without JWKSURL, also where discovery
	// starts. Empty (a lone provider with a JWKSURL only) means iss is not
	// checked.
	Issuer string `yaml:"issuer"`
	// JWKSURL is the JWK Set's URL. Empty means OIDC discovery from Issuer.
	JWKSURL string `yaml:"jwks_url"`
}

// Route sends requests under a path prefix to one upstream, with its own
// requirements.
type Route struct {
	// Prefix is the path prefix, starting with "/". "/api" matches "/api"
	// and "/api/…" but not "/apiary". Required.
	Prefix string `yaml:"prefix"`
	// Mode is ModeProxy or ModeDecision. Empty means ModeProxy.
	//
	// A request under a decision route is a sub-request about another
	// one, the original: the route whose requirements decide it (scopes,
	// audiences, rate, claim headers) is chosen again, by the original
	// path's clean form. The original is what follows Prefix when
	// StripPrefix is set and something does (Envoy's HTTP ext_authz
	// appends the original path to its path_prefix); otherwise a trusted
	// proxy's X-Forwarded-Uri or X-Original-URI (both present: they must
	// agree); otherwise, when neither is present, the request's own path.
	// A trusted proxy's original-request header that is present but
	// unusable (repeated, not origin-form, a control byte, '#', longer
	// than 8 KiB), or two that disagree, is a 400 invalid_request, never a
	// fallback; bytes >= 0x80 are percent-encoded (see forwarded.Original).
	// The chosen route may be a proxy route (the same check as proxying
	// there would make) or a decision route; none is a 404.
	Mode string `yaml:"mode"`
	// Upstream is the absolute http(s) URL requests are proxied to; its path
	// is prepended to the request's. Required for a proxy route; a
	// decision route has none.
	Upstream string `yaml:"upstream"`
	// StripPrefix removes Prefix from the path before proxying. false
	// means the path is proxied whole. On a decision route it means that
	// what follows Prefix is the original path (see Mode).
	StripPrefix bool `yaml:"strip_prefix"`
	// Scopes the token must all hold. Empty means none.
	Scopes []string `yaml:"scopes"`
	// Audiences overrides the top-level Audiences for this route. Empty
	// means the top-level ones.
	Audiences []string `yaml:"audiences"`
	// Rate and Burst override the top-level policy for this route; nil
	// inherits it, and a rate of 0 means no limit on this route.
	Rate  *float64 `yaml:"rate"`
	Burst *int     `yaml:"burst"`
	// Weight is how many rate units one request costs (an LLM completion
	// may cost more than a lookup). 0 means 1.
	Weight int `yaml:"weight"`
	// DropAuthorization removes the client's Authorization header before
	// proxying, so the client's token never reaches the upstream. false
	// means the upstream gets it.
	DropAuthorization bool `yaml:"drop_authorization"`
	// UpstreamAuth, when set, sets a credential for the upstream from an
	// environment variable (read at start; unset or empty is an error).
	// nil means the gateway adds no credential.
	UpstreamAuth *UpstreamAuth `yaml:"upstream_auth"`
	// ClaimHeaders maps a claim name to the header that carries it
	// upstream. A same-named header from the client is always replaced,
	// and removed when the token lacks the claim. Empty means no claim is
	// forwarded.
	ClaimHeaders map[string]string `yaml:"claim_headers"`
	// Types is a typ allow-list for this route (e.g. [at+jwt], RFC 9068),
	// on top of the top-level Types. Empty means the top-level ones only.
	Types []string `yaml:"types"`
	// Resource makes the route an OAuth protected resource (an MCP
	// server; RFC 9728): tokens must carry its URI in aud exactly, a token
	// in the query is 400, every 401/403 points at its metadata document,
	// which the gateway serves at the path-inserted well-known URL. nil
	// means an ordinary route.
	Resource *Resource `yaml:"resource"`
	// ForwardToken lets the client's token through to the upstream of a
	// Resource route. false (default) drops it there: an MCP server must
	// not pass its client's token on (MCP Security Best Practices, "Token
	// Passthrough"); UpstreamAuth sets the upstream's own credential.
	// Ignored on other routes (see DropAuthorization).
	ForwardToken bool `yaml:"forward_token"`
	// DPoP is off, allowed or required on this route. Empty means the
	// top-level dpop mode.
	DPoP string `yaml:"dpop"`
	// Policy is a CEL expression over claims, request, source and mcp
	// (package policy) that must be true for a request to pass, decided
	// after the route's other requirements and before its rate limit: a
	// false or undecidable expression is 403 access_denied. Checked at
	// load: a syntax, type or cost error is a config error naming the
	// position. Empty means none.
	Policy string `yaml:"policy"`
	// ACRValues are the acr values this route accepts (RFC 9470 step-up):
	// a token with another acr, or none, is 401
	// insufficient_user_authentication with acr_values in the challenge.
	// Empty means acr is not checked.
	ACRValues []string `yaml:"acr_values"`
	// MaxAuthAge bounds how long ago the user logged in (the token's
	// auth_time): older, or no auth_time, is refused like ACRValues, with
	// max_age in the challenge. 0 means not checked.
	MaxAuthAge time.Duration `yaml:"max_auth_age"`
	// Budget charges each subject for the LLM tokens the upstream reports
	// (see RouteBudget). nil means no budget.
	Budget *RouteBudget `yaml:"budget"`
	// ResponseHeaderTimeout overrides the top-level one for this proxy
	// route: an upstream that sends no response headers this long is
	// answered 504; a body (a stream) may then take as long as it takes.
	// 0 means the top-level one.
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
}

// Resource describes a protected resource (see middleware.Resource).
type Resource struct {
	// URI is the resource identifier tokens must name in aud: absolute
	// https (http only for loopback), no query or fragment. Required.
	URI string `yaml:"uri"`
	// AuthorizationServers are the issuers clients get tokens from. Empty
	// means the gateway's providers' issuers.
	AuthorizationServers []string `yaml:"authorization_servers"`
	// ScopesSupported are the scopes a client may ask for. Empty means
	// none listed.
	ScopesSupported []string `yaml:"scopes_supported"`
	// Name is a human-readable name (resource_name). Empty means none.
	Name string `yaml:"name"`
	// Tools are per-tool rules for MCP tools/call (middleware.Resource.Tools):
	// a tool name, or a prefix ending in "*", → the scopes and the policy a
	// call of it needs on top of the route's. The gateway reads each POST's
	// JSON-RPC body (up to 1 MiB; larger is refused) to find the calls.
	// Empty means any tool the route lets through.
	Tools map[string]ResourceTool `yaml:"tools"`
}

// ResourceTool is one tool's rule.
type ResourceTool struct {
	// Scopes the token must all have to call the tool.
	Scopes []string `yaml:"scopes"`
	// Policy is a CEL expression (as Route.Policy; mcp.tool is the tool)
	// that must be true for the call. Empty means none.
	Policy string `yaml:"policy"`
}

// UpstreamAuth is a credential the gateway sends upstream in the client's
// stead.
type UpstreamAuth struct {
	// Header is the header to set. Empty means Authorization.
	Header string `yaml:"header"`
	// Scheme is prepended with a space ("Bearer"). Empty means Bearer when
	// Header is Authorization, and nothing otherwise.
	Scheme string `yaml:"scheme"`
	// Env is the environment variable holding the credential. Required.
	Env string `yaml:"env"`

	value string // the credential, read by Validate
}

// LoadFile reads a YAML config file. Unknown keys are errors, so a typo
// fails loudly instead of silently meaning "default".
func LoadFile(name string) (Config, error) {
	f, err := os.Open(name)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("%w: read %s: %w", ErrInvalidConfig, name, err)
	}
	if len(b) > maxConfigBytes {
		return Config{}, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidConfig, name, maxConfigBytes)
	}
	cfg, err := decodeYAML(b)
	if err != nil {
		return cfg, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, name, err)
	}
	return cfg, nil
}

// ParseYAML decodes a config document without validating it.
func ParseYAML(b []byte) (Config, error) {
	cfg, err := decodeYAML(b)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return cfg, nil
}

// decodeYAML decodes b. When values have the wrong type (a
// *yaml.TypeError), the decoder goes on and the Config holds what did
// decode, so that Validate can report every other problem with them.
func decodeYAML(b []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		if _, partial := errors.AsType[*yaml.TypeError](err); partial {
			return cfg, err
		}
		return Config{}, err
	}
	return cfg, nil
}

// Flags are the command line's settings beyond Config.
type Flags struct {
	// Demo is true when the gateway is to run its embedded demo identity
	// provider and upstream: with -demo, or when no flag names a provider,
	// an upstream or a config file.
	Demo bool
	// DemoFlag reports whether -demo was given: only then may the demo
	// listen on an address other than loopback.
	DemoFlag bool
	// ListenSet reports whether the listen address was chosen explicitly;
	// demo mode falls back to a free port only when it was not.
	ListenSet bool
}

// ParseArgs parses the command line (without the program name). A -config
// file is loaded first and the flags that were given override its fields.
// The result is not validated yet, except for flag syntax and for demo
// mode: it is refused on an address that is not loopback unless -demo
// asks for it, since its identity provider mints tokens for anyone. With
// -h the usage goes to stderr and the error is flag.ErrHelp; nothing else is
// written there. A config file with values of the wrong type is an error
// (wrapping *yaml.TypeError) returned with the Config that did decode, so
// that Validate can name the file's other problems in the same run.
func ParseArgs(args []string, stderr io.Writer) (Config, Flags, error) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	// The flag package prints a parse error and the whole usage; the
	// caller prints the error once, and the usage is for -h only.
	fs.SetOutput(io.Discard)
	var (
		listen, upstream, jwksURL, issuer, audience, redis, configFile string
		types, algorithms, requireClaims                               string
		decisionPath, trustedProxies, dpopMode                         string
		rate                                                           float64
		burst, replicas                                                int
		shutdown, leeway                                               time.Duration
		demoFlag, decision                                             bool
		claimHeaders                                                   = claimHeaderFlag{}
	)
	fs.StringVar(&listen, "listen", DefaultListen, "address to listen on")
	fs.StringVar(&upstream, "upstream", "", "upstream URL for the catch-all route \"/\"")
	fs.StringVar(&jwksURL, "jwks-url", "", "JWK Set URL (default: OIDC discovery from -issuer)")
	fs.StringVar(&issuer, "issuer", "", "accepted token issuer (iss)")
	fs.StringVar(&audience, "audience", "", "accepted audience(s), comma-separated")
	fs.Float64Var(&rate, "rate", 0, "requests per second per subject (0: no limit)")
	fs.IntVar(&burst, "burst", 0, "burst per subject (0: max(1, ceil(rate)))")
	fs.StringVar(&redis, "redis", "", "Redis address host:port to share rate limits across replicas")
	fs.IntVar(&replicas, "replicas", 0, "replicas sharing -redis: while Redis is down each limits to its share (0: 1)")
	fs.StringVar(&configFile, "config", "", "YAML config file (flags override its top-level fields)")
	fs.DurationVar(&shutdown, "shutdown-timeout", 0, "how long in-flight requests may finish after SIGTERM (0: 15s)")
	fs.DurationVar(&leeway, "leeway", 30*time.Second, "clock skew allowed for exp, nbf and iat (0: none)")
	fs.StringVar(&types, "types", "", "accepted typ header values, comma-separated, e.g. at+jwt (default: typ not checked)")
	fs.StringVar(&algorithms, "algorithms", "", "accepted alg values, comma-separated (default: "+strings.Join(middleware.DefaultAlgorithms(), ",")+")")
	fs.StringVar(&requireClaims, "require-claims", "", "claims every token must carry, comma-separated")
	fs.BoolVar(&demoFlag, "demo", false, "run the embedded demo identity provider and upstream even on a non-loopback -listen (anyone who reaches them gets tokens the gateway accepts)")
	fs.Var(claimHeaders, "claim-header", "CLAIM=HEADER: forward the verified claim upstream as a header (repeatable; route of -upstream or -decision)")
	fs.BoolVar(&decision, "decision", false, "the catch-all route \"/\" answers forward-auth sub-requests (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth) instead of proxying; instead of -upstream")
	fs.StringVar(&decisionPath, "decision-path", "", "PATH: a decision route at PATH whose sub-requests carry the original path after PATH (Envoy HTTP ext_authz path_prefix), or in the trusted proxy's headers")
	fs.StringVar(&trustedProxies, "trusted-proxies", "", "proxies whose X-Forwarded-*/X-Original-* headers count, comma-separated CIDRs or IPs, or \"none\" (default: loopback)")
	fs.StringVar(&dpopMode, "dpop", "", "DPoP-bound tokens (RFC 9449): off, allowed (Bearer and DPoP) or required (default: off)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "Usage: gateway [flags]\n\nWith no identity provider, upstream or config flags: a DEMO identity provider, a demo upstream and the gateway, on loopback.\n\nFlags:\n")
			fs.PrintDefaults()
			return Config{}, Flags{}, err
		}
		return Config{}, Flags{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if fs.NArg() > 0 {
		return Config{}, Flags{}, fmt.Errorf("%w: unexpected argument %q", ErrInvalidConfig, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var (
		cfg     Config
		fileErr error // values of the wrong type: reported with the rest (see decodeYAML)
	)
	if configFile != "" {
		if cfg, fileErr = LoadFile(configFile); fileErr != nil {
			if _, partial := errors.AsType[*yaml.TypeError](fileErr); !partial {
				return Config{}, Flags{}, fileErr
			}
		}
	}
	opts := Flags{
		Demo:      demoFlag || !set["config"] && !set["upstream"] && !set["decision"] && !set["decision-path"] && !set["issuer"] && !set["jwks-url"],
		DemoFlag:  demoFlag,
		ListenSet: set["listen"] || cfg.Listen != "",
	}
	if demoFlag {
		// The demo brings its own provider and routes; any of the user's
		// would be silently replaced.
		var given []string
		for _, f := range []string{"issuer", "jwks-url", "upstream", "decision", "decision-path"} {
			if set[f] {
				given = append(given, "-"+f)
			}
		}
		if cfg.Issuer != "" || cfg.JWKSURL != "" || len(cfg.Providers) > 0 || len(cfg.Routes) > 0 {
			given = append(given, "providers or routes in -config")
		}
		if len(given) > 0 {
			return Config{}, Flags{}, fmt.Errorf("%w: -demo runs the embedded demo identity provider and upstream, which would replace %s; drop -demo for a real gateway", ErrInvalidConfig, strings.Join(given, ", "))
		}
	}
	if set["listen"] || cfg.Listen == "" {
		cfg.Listen = listen
	}
	if set["issuer"] {
		cfg.Issuer = issuer
	}
	if set["jwks-url"] {
		cfg.JWKSURL = jwksURL
	}
	if set["audience"] {
		cfg.Audiences = splitList(audience)
	}
	if set["rate"] {
		cfg.Rate = rate
	}
	if set["burst"] {
		cfg.Burst = burst
	}
	if set["redis"] {
		cfg.Redis = redis
	}
	if set["replicas"] {
		cfg.Replicas = replicas
	}
	if set["shutdown-timeout"] {
		cfg.ShutdownTimeout = shutdown
	}
	if set["leeway"] {
		cfg.Leeway = &leeway
	}
	if set["dpop"] {
		if opts.Demo && dpopMode != DPoPOff {
			return Config{}, Flags{}, fmt.Errorf("%w: -dpop %s: the demo's provider and curl lines use Bearer tokens; give -issuer and -upstream for a DPoP gateway", ErrInvalidConfig, dpopMode)
		}
		cfg.DPoP.Mode = dpopMode
	}
	for _, l := range []struct {
		flag string
		val  string
		dst  *[]string
	}{
		{"types", types, &cfg.Types},
		{"algorithms", algorithms, &cfg.Algorithms},
		{"require-claims", requireClaims, &cfg.RequiredClaims},
	} {
		if !set[l.flag] {
			continue
		}
		if *l.dst = splitList(l.val); len(*l.dst) == 0 {
			return Config{}, Flags{}, fmt.Errorf("%w: -%s %q: want a comma-separated list", ErrInvalidConfig, l.flag, l.val)
		}
	}
	if set["trusted-proxies"] {
		if strings.TrimSpace(trustedProxies) == "none" {
			cfg.TrustedProxies = []string{}
		} else if cfg.TrustedProxies = splitList(trustedProxies); len(cfg.TrustedProxies) == 0 {
			return Config{}, Flags{}, fmt.Errorf("%w: -trusted-proxies %q: want comma-separated CIDRs or IPs, or none", ErrInvalidConfig, trustedProxies)
		}
	}
	if decision && set["upstream"] {
		return Config{}, Flags{}, fmt.Errorf("%w: -decision makes the route \"/\" a decision service, which proxies nowhere: drop -upstream (or -decision)", ErrInvalidConfig)
	}
	if set["claim-header"] && !set["upstream"] && !decision {
		// The mapping belongs to a route; only -upstream's or -decision's
		// is the flags' own.
		return Config{}, Flags{}, fmt.Errorf("%w: -claim-header applies to the route of -upstream or -decision, neither of which is given (in a config file, set claim_headers per route)", ErrInvalidConfig)
	}
	hasRoute := func(prefix string) bool {
		return slices.ContainsFunc(cfg.Routes, func(r Route) bool { return r.Prefix == prefix })
	}
	if set["upstream"] || decision {
		flag, r := "-upstream", Route{Prefix: "/", Upstream: upstream}
		if decision {
			flag, r = "-decision", Route{Prefix: "/", Mode: ModeDecision}
		}
		if hasRoute("/") {
			return Config{}, Flags{}, fmt.Errorf("%w: %s adds the route \"/\", which the config file already has", ErrInvalidConfig, flag)
		}
		if len(claimHeaders) > 0 {
			r.ClaimHeaders = claimHeaders
		}
		cfg.Routes = append(cfg.Routes, r)
	}
	if set["decision-path"] {
		if decisionPath == "/" || !strings.HasPrefix(decisionPath, "/") || cleanPath(decisionPath) != decisionPath || strings.HasSuffix(decisionPath, "/") {
			return Config{}, Flags{}, fmt.Errorf("%w: -decision-path %q: want a clean absolute path other than \"/\", without a trailing slash, e.g. /_jwtgate", ErrInvalidConfig, decisionPath)
		}
		if hasRoute(decisionPath) {
			return Config{}, Flags{}, fmt.Errorf("%w: -decision-path adds the route %q, which the config file already has", ErrInvalidConfig, decisionPath)
		}
		cfg.Routes = append(cfg.Routes, Route{Prefix: decisionPath, Mode: ModeDecision, StripPrefix: true})
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err == nil && opts.Demo && !opts.DemoFlag && !isLoopback(cfg.Listen) {
		return Config{}, Flags{}, fmt.Errorf("%w: no identity provider is configured, which means demo mode, and the demo's identity provider mints tokens for anyone who asks: "+
			"it does not listen on %q, which is not loopback. Give -issuer or -jwks-url (or -config) for a real gateway, or -demo to expose the demo deliberately", ErrInvalidConfig, cfg.Listen)
	}
	// With fileErr, cfg is what did decode: a caller can Validate it to
	// report the other problems too (Run does).
	return cfg, opts, fileErr
}

// isLoopback reports whether the listen address hostport is on loopback
// only: localhost or a loopback IP. An empty host is every interface.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// claimHeaderFlag is -claim-header CLAIM=HEADER, repeatable.
type claimHeaderFlag map[string]string

func (f claimHeaderFlag) String() string {
	var parts []string
	for c, h := range f {
		parts = append(parts, c+"="+h)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (f claimHeaderFlag) Set(v string) error {
	claim, header, ok := strings.Cut(v, "=")
	claim, header = strings.TrimSpace(claim), strings.TrimSpace(header)
	switch {
	case !ok || claim == "" || header == "":
		return fmt.Errorf("%q: want CLAIM=HEADER, e.g. sub=X-Jwtgate-Subject", v)
	case !validHeaderName(header) || isHopOrReserved(header):
		return fmt.Errorf("%q: %q is not a header the gateway may set", v, header)
	}
	if prev, dup := f[claim]; dup {
		return fmt.Errorf("%q: claim %q is already forwarded as %s", v, claim, prev)
	}
	f[claim] = header
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// reservedPaths are the gateway's own endpoints; no route may claim them.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics"}

// Validate fills defaults and checks everything that can be checked without
// the network, including that every UpstreamAuth variable is set. lookupEnv
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
	cfg.checkProviders(&p)
	cfg.checkRateLimits(&p)
	cfg.checkShutdown(&p)
	cfg.checkVerification(&p)
	cfg.checkDPoP(&p, lookupEnv)
	cfg.checkUpstream(&p)
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

// checkProviders folds the top-level issuer/jwks_url into Providers (as
// the first) and checks each provider.
func (cfg *Config) checkProviders(p *problems) {
	providers := cfg.Providers
	if cfg.Issuer != "" || cfg.JWKSURL != "" {
		providers = append([]Provider{{Issuer: cfg.Issuer, JWKSURL: cfg.JWKSURL}}, providers...)
	}
	if len(providers) == 0 {
		p.add("need -issuer (OIDC discovery) or -jwks-url")
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
		case pv.Issuer == "" && pv.JWKSURL == "":
			p.add("%s: need an issuer (OIDC discovery) or a jwks_url", where)
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
	cfg.Issuer, cfg.JWKSURL = "", ""
}

// checkRateLimits checks the top-level rate policy and the Redis settings.
func (cfg *Config) checkRateLimits(p *problems) {
	if !validRate(cfg.Rate) {
		p.add("rate %v: want a number >= 0", cfg.Rate)
	}
	if cfg.Burst < 0 {
		p.add("burst %d: want >= 0", cfg.Burst)
	}
	if cfg.Redis != "" {
		if _, _, err := net.SplitHostPort(cfg.Redis); err != nil {
			p.add("redis %q: want host:port", cfg.Redis)
		}
	}
	if cfg.Replicas < 0 || cfg.Replicas > 1000 {
		p.add("replicas %d: want 0 to 1000", cfg.Replicas)
	}
	if cfg.Replicas > 0 && cfg.Redis == "" {
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
		if r.Policy != "" {
			if _, err := policy.Compile(r.Policy, policy.Options{}); err != nil {
				p.add("%s: policy: %v", where, err)
			}
		}
		cfg.checkRouteResource(p, where, &r, seenMeta)
		cfg.checkRouteBudget(p, where, r)
		r.UpstreamAuth = checkUpstreamAuth(p, where, r.UpstreamAuth, lookupEnv)
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
		if claim == "" || !validHeaderName(h) || isHopOrReserved(h) {
			p.add("%s: claim_headers %q: %q is not a header the gateway may set", where, claim, h)
		}
	}
}

// checkUpstreamAuth returns a copy of ua with its default header and the
// credential read from the environment.
func checkUpstreamAuth(p *problems, where string, ua *UpstreamAuth, lookupEnv func(string) (string, bool)) *UpstreamAuth {
	if ua == nil {
		return nil
	}
	cp := *ua
	if cp.Header == "" {
		cp.Header = "Authorization"
	}
	if !validHeaderName(cp.Header) {
		p.add("%s: upstream_auth header %q is not a valid header name", where, cp.Header)
	}
	if cp.Env == "" {
		p.add("%s: upstream_auth needs env (the variable holding the credential)", where)
	} else if v, ok := lookupEnv(cp.Env); !ok || v == "" {
		p.add("%s: upstream_auth: environment variable %s is not set", where, cp.Env)
	} else {
		cp.value = v
	}
	return &cp
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

// cleanPath is path.Clean keeping a trailing slash.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// prefixMatches reports whether p is under prefix, on a segment boundary:
// the rule extauthz and the decision mode match by too.
func prefixMatches(prefix, p string) bool { return routepath.Match(prefix, p) }

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

func isHopOrReserved(h string) bool {
	switch strings.ToLower(h) {
	case "authorization", "host", "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
		"te", "trailer", "transfer-encoding", "upgrade", "content-length", "cookie", "x-forwarded-for",
		"x-forwarded-host", "x-forwarded-proto", "forwarded":
		return true
	}
	return false
}
