package cli

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/middleware"
)

// args holds the command line's values, before they meet the config file.
type args struct {
	listen, upstream, jwksURL, jwksFile, issuer, audience, redis, configFile string
	types, algorithms, requireClaims                                         string
	decisionPath, trustedProxies, dpopMode                                   string
	tlsCert, tlsKey, tlsClientCA, tlsClientAuth                              string
	rate                                                                     float64
	burst, replicas                                                          int
	shutdown, leeway                                                         time.Duration
	demo, decision, watch                                                    bool
	claimHeaders                                                             claimHeaderFlag
}

// define binds a's fields to fs: the one table of the program's flags.
func (a *args) define(fs *flag.FlagSet) {
	a.claimHeaders = claimHeaderFlag{}
	fs.StringVar(&a.listen, "listen", gateway.DefaultListen, "address to listen on")
	fs.StringVar(&a.upstream, "upstream", "", "upstream URL for the catch-all route \"/\"")
	fs.StringVar(&a.jwksURL, "jwks-url", "", "JWK Set URL (default: OIDC discovery from -issuer)")
	fs.StringVar(&a.jwksFile, "jwks-file", "", "JWK Set file on disk instead of a URL, re-read when it changes")
	fs.StringVar(&a.issuer, "issuer", "", "accepted token issuer (iss)")
	fs.StringVar(&a.audience, "audience", "", "accepted audience(s), comma-separated")
	fs.Float64Var(&a.rate, "rate", 0, "requests per second per subject (0: no limit)")
	fs.IntVar(&a.burst, "burst", 0, "burst per subject (0: max(1, ceil(rate)))")
	fs.StringVar(&a.redis, "redis", "", "Redis host:port, or a redis:// or rediss:// URL, to share rate limits across replicas (the password from the config's redis.password_env)")
	fs.IntVar(&a.replicas, "replicas", 0, "replicas sharing -redis: while Redis is down each limits to its share (0: 1)")
	fs.StringVar(&a.configFile, "config", "", "YAML config file (flags override its top-level fields); SIGHUP reloads it")
	fs.BoolVar(&a.watch, "watch", false, "reload -config when it changes (watches its directory: a replaced file or a Kubernetes ConfigMap update included)")
	fs.DurationVar(&a.shutdown, "shutdown-timeout", 0, "how long in-flight requests may finish after SIGTERM (0: 15s)")
	fs.DurationVar(&a.leeway, "leeway", 30*time.Second, "clock skew allowed for exp, nbf and iat (0: none)")
	fs.StringVar(&a.types, "types", "", "accepted typ header values, comma-separated, e.g. at+jwt (default: typ not checked)")
	fs.StringVar(&a.algorithms, "algorithms", "", "accepted alg values, comma-separated (default: "+strings.Join(middleware.DefaultAlgorithms(), ",")+")")
	fs.StringVar(&a.requireClaims, "require-claims", "", "claims every token must carry, comma-separated")
	fs.BoolVar(&a.demo, "demo", false, "run the embedded demo identity provider and upstream even on a non-loopback -listen (anyone who reaches them gets tokens the gateway accepts)")
	fs.Var(a.claimHeaders, "claim-header", "CLAIM=HEADER: forward the verified claim upstream as a header (repeatable; route of -upstream or -decision)")
	fs.BoolVar(&a.decision, "decision", false, "the catch-all route \"/\" answers forward-auth sub-requests (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth) instead of proxying; instead of -upstream")
	fs.StringVar(&a.decisionPath, "decision-path", "", "PATH: a decision route at PATH whose sub-requests carry the original path after PATH (Envoy HTTP ext_authz path_prefix), or in the trusted proxy's headers")
	fs.StringVar(&a.trustedProxies, "trusted-proxies", "", "proxies whose X-Forwarded-*/X-Original-* headers count, comma-separated CIDRs or IPs, or \"none\" (default: loopback)")
	fs.StringVar(&a.dpopMode, "dpop", "", "DPoP-bound tokens (RFC 9449): off, allowed (Bearer and DPoP) or required (default: off)")
	fs.StringVar(&a.tlsCert, "tls-cert", "", "FILE: serve HTTPS (and HTTP/2) with this PEM certificate chain, re-read when it changes; with -tls-key")
	fs.StringVar(&a.tlsKey, "tls-key", "", "FILE: the PEM private key of -tls-cert")
	fs.StringVar(&a.tlsClientCA, "tls-client-ca", "", "FILE: the PEM CAs client certificates must chain to; with -tls-client-auth")
	fs.StringVar(&a.tlsClientAuth, "tls-client-auth", "", "client certificates: none, request (verified when sent) or require (default: none)")
}

// overrides are the flags that set a top-level config field, each applied
// over the config file's value only when it was given: the one place a
// flag meets its field.
var overrides = []struct {
	flag  string
	apply func(cfg *gateway.Config, a *args) error
}{
	{"issuer", func(cfg *gateway.Config, a *args) error { cfg.Issuer = a.issuer; return nil }},
	{"jwks-url", func(cfg *gateway.Config, a *args) error { cfg.JWKSURL = a.jwksURL; return nil }},
	{"jwks-file", func(cfg *gateway.Config, a *args) error { cfg.JWKSFile = a.jwksFile; return nil }},
	{"audience", func(cfg *gateway.Config, a *args) error { cfg.Audiences = splitList(a.audience); return nil }},
	{"rate", func(cfg *gateway.Config, a *args) error { cfg.Rate = a.rate; return nil }},
	{"burst", func(cfg *gateway.Config, a *args) error { cfg.Burst = a.burst; return nil }},
	{"redis", func(cfg *gateway.Config, a *args) error {
		// Where Redis is, in place of the file's addr, cluster or
		// sentinel; the file's username, password_env and tls stay.
		cfg.Redis = gateway.RedisConfig{Addr: a.redis, Username: cfg.Redis.Username, PasswordEnv: cfg.Redis.PasswordEnv, TLS: cfg.Redis.TLS}
		return nil
	}},
	{"replicas", func(cfg *gateway.Config, a *args) error { cfg.Replicas = a.replicas; return nil }},
	{"shutdown-timeout", func(cfg *gateway.Config, a *args) error { cfg.ShutdownTimeout = a.shutdown; return nil }},
	{"leeway", func(cfg *gateway.Config, a *args) error { cfg.Leeway = &a.leeway; return nil }},
	{"dpop", func(cfg *gateway.Config, a *args) error { cfg.DPoP.Mode = a.dpopMode; return nil }},
	{"types", func(cfg *gateway.Config, a *args) error { return listFlag("types", a.types, &cfg.Types) }},
	{"algorithms", func(cfg *gateway.Config, a *args) error { return listFlag("algorithms", a.algorithms, &cfg.Algorithms) }},
	{"require-claims", func(cfg *gateway.Config, a *args) error {
		return listFlag("require-claims", a.requireClaims, &cfg.RequiredClaims)
	}},
	{"tls-cert", func(cfg *gateway.Config, a *args) error { tlsSection(cfg).CertFile = a.tlsCert; return nil }},
	{"tls-key", func(cfg *gateway.Config, a *args) error { tlsSection(cfg).KeyFile = a.tlsKey; return nil }},
	{"tls-client-ca", func(cfg *gateway.Config, a *args) error { tlsSection(cfg).ClientCAFile = a.tlsClientCA; return nil }},
	{"tls-client-auth", func(cfg *gateway.Config, a *args) error { tlsSection(cfg).ClientAuth = a.tlsClientAuth; return nil }},
	{"trusted-proxies", func(cfg *gateway.Config, a *args) error {
		if strings.TrimSpace(a.trustedProxies) == "none" {
			cfg.TrustedProxies = []string{}
			return nil
		}
		if cfg.TrustedProxies = splitList(a.trustedProxies); len(cfg.TrustedProxies) == 0 {
			return fmt.Errorf("%w: -trusted-proxies %q: want comma-separated CIDRs or IPs, or none", gateway.ErrInvalidConfig, a.trustedProxies)
		}
		return nil
	}},
}

// tlsSection is cfg's tls: section, a new one when the file has none: the
// -tls-* flags override its fields one by one.
func tlsSection(cfg *gateway.Config) *gateway.TLSConfig {
	if cfg.TLS == nil {
		cfg.TLS = &gateway.TLSConfig{}
	}
	return cfg.TLS
}

// listFlag sets *dst from a comma-separated flag value, which must name
// something.
func listFlag(name, val string, dst *[]string) error {
	if *dst = splitList(val); len(*dst) == 0 {
		return fmt.Errorf("%w: -%s %q: want a comma-separated list", gateway.ErrInvalidConfig, name, val)
	}
	return nil
}

// ParseArgs parses the command line (without the program name). A -config
// file is loaded first and the flags that were given override its fields.
// The result is not validated yet, except for flag syntax and for demo
// mode: it is refused on an address that is not loopback unless -demo
// asks for it, since its identity provider mints tokens for anyone. With
// -h the usage goes to stderr and the error is flag.ErrHelp; nothing else is
// written there. A config file with values of the wrong type is an error
// (wrapping *yaml.TypeError) returned with the Config that did decode, so
// that Validate can name the file's other problems in the same run. Any
// other config file error comes with Flags holding only ConfigFile and
// ConfigDigest.
func ParseArgs(argv []string, stderr io.Writer) (gateway.Config, Flags, error) {
	fs := flag.NewFlagSet("jwtgate", flag.ContinueOnError)
	// The flag package prints a parse error and the whole usage; the
	// caller prints the error once, and the usage is for -h only.
	fs.SetOutput(io.Discard)
	var a args
	a.define(fs)
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "Usage: jwtgate [flags]\n\nWith no identity provider, upstream or config flags: a DEMO identity provider, a demo upstream and the gateway, on loopback.\n\nFlags:\n")
			fs.PrintDefaults()
			return gateway.Config{}, Flags{}, err
		}
		return gateway.Config{}, Flags{}, fmt.Errorf("%w: %w", gateway.ErrInvalidConfig, err)
	}
	if fs.NArg() > 0 {
		return gateway.Config{}, Flags{}, fmt.Errorf("%w: unexpected argument %q", gateway.ErrInvalidConfig, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var (
		cfg     gateway.Config
		digest  [sha256.Size]byte
		fileErr error // values of the wrong type: reported with the rest (see decodeYAML)
	)
	if a.configFile != "" {
		if cfg, digest, fileErr = gateway.LoadFileDigest(a.configFile); fileErr != nil {
			if _, partial := errors.AsType[*yaml.TypeError](fileErr); !partial {
				return gateway.Config{}, Flags{ConfigFile: a.configFile, ConfigDigest: digest}, fileErr
			}
		}
	}
	opts := Flags{
		ConfigDigest: digest,
		Demo:         a.demo || !set["config"] && !set["upstream"] && !set["decision"] && !set["decision-path"] && !set["issuer"] && !set["jwks-url"] && !set["jwks-file"],
		DemoFlag:     a.demo,
		ListenSet:    set["listen"] || cfg.Listen != "",
		ConfigFile:   a.configFile,
		Watch:        a.watch,
	}
	for _, step := range []func() error{
		func() error { return a.checkWatch(opts) },
		func() error { return a.checkDemo(set, cfg, opts) },
		func() error { return a.apply(set, &cfg) },
		func() error { return a.addRoutes(set, &cfg) },
		func() error { return checkDemoListen(cfg, opts) },
	} {
		if err := step(); err != nil {
			return gateway.Config{}, Flags{}, err
		}
	}
	// With fileErr, cfg is what did decode: a caller can Validate it to
	// report the other problems too (Run does).
	return cfg, opts, fileErr
}

// checkWatch refuses -watch without a -config file to watch, and in demo
// mode, whose providers and routes are not the file's.
func (a *args) checkWatch(opts Flags) error {
	switch {
	case a.watch && a.configFile == "":
		return fmt.Errorf("%w: %w", gateway.ErrInvalidConfig, errNoConfig)
	case a.watch && opts.Demo:
		return fmt.Errorf("%w: -watch reloads -config, whose providers and routes the demo replaces: drop -demo (or -watch)", gateway.ErrInvalidConfig)
	}
	return nil
}

// checkDemo refuses -demo beside anything the demo would replace, and a
// DPoP mode the demo cannot serve.
func (a *args) checkDemo(set map[string]bool, cfg gateway.Config, opts Flags) error {
	if set["dpop"] && opts.Demo && a.dpopMode != gateway.DPoPOff {
		return fmt.Errorf("%w: -dpop %s: the demo's provider and curl lines use Bearer tokens; give -issuer and -upstream for a DPoP gateway", gateway.ErrInvalidConfig, a.dpopMode)
	}
	if !a.demo {
		return nil
	}
	// The demo brings its own provider and routes; any of the user's
	// would be silently replaced.
	var given []string
	for _, f := range []string{"issuer", "jwks-url", "jwks-file", "upstream", "decision", "decision-path"} {
		if set[f] {
			given = append(given, "-"+f)
		}
	}
	if cfg.Issuer != "" || cfg.JWKSURL != "" || cfg.JWKSFile != "" || len(cfg.Providers) > 0 || len(cfg.Routes) > 0 {
		given = append(given, "providers or routes in -config")
	}
	if len(given) > 0 {
		return fmt.Errorf("%w: -demo runs the embedded demo identity provider and upstream, which would replace %s; drop -demo for a real gateway", gateway.ErrInvalidConfig, strings.Join(given, ", "))
	}
	return nil
}

// apply sets the top-level fields whose flags were given.
func (a *args) apply(set map[string]bool, cfg *gateway.Config) error {
	if set["listen"] || cfg.Listen == "" {
		cfg.Listen = a.listen
	}
	for _, o := range overrides {
		if set[o.flag] {
			if err := o.apply(cfg, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// addRoutes adds the routes -upstream, -decision and -decision-path stand
// for.
func (a *args) addRoutes(set map[string]bool, cfg *gateway.Config) error {
	switch {
	case a.decision && set["upstream"]:
		return fmt.Errorf("%w: -decision makes the route \"/\" a decision service, which proxies nowhere: drop -upstream (or -decision)", gateway.ErrInvalidConfig)
	case set["claim-header"] && !set["upstream"] && !a.decision:
		// The mapping belongs to a route; only -upstream's or -decision's
		// is the flags' own.
		return fmt.Errorf("%w: -claim-header applies to the route of -upstream or -decision, neither of which is given (in a config file, set claim_headers per route)", gateway.ErrInvalidConfig)
	}
	hasRoute := func(prefix string) bool {
		return slices.ContainsFunc(cfg.Routes, func(r gateway.Route) bool { return r.Prefix == prefix })
	}
	if set["upstream"] || a.decision {
		flag, r := "-upstream", gateway.Route{Prefix: "/", Upstream: a.upstream}
		if a.decision {
			flag, r = "-decision", gateway.Route{Prefix: "/", Mode: gateway.ModeDecision}
		}
		if hasRoute("/") {
			return fmt.Errorf("%w: %s adds the route \"/\", which the config file already has", gateway.ErrInvalidConfig, flag)
		}
		if len(a.claimHeaders) > 0 {
			r.ClaimHeaders = a.claimHeaders
		}
		cfg.Routes = append(cfg.Routes, r)
	}
	if !set["decision-path"] {
		return nil
	}
	p := a.decisionPath
	if p == "/" || !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.HasSuffix(p, "/") {
		return fmt.Errorf("%w: -decision-path %q: want a clean absolute path other than \"/\", without a trailing slash, e.g. /_jwtgate", gateway.ErrInvalidConfig, p)
	}
	if hasRoute(p) {
		return fmt.Errorf("%w: -decision-path adds the route %q, which the config file already has", gateway.ErrInvalidConfig, p)
	}
	cfg.Routes = append(cfg.Routes, gateway.Route{Prefix: p, Mode: gateway.ModeDecision, StripPrefix: true})
	return nil
}

// checkDemoListen refuses demo mode on an address that is not loopback
// unless -demo asks for it: its identity provider mints tokens for anyone.
func checkDemoListen(cfg gateway.Config, opts Flags) error {
	if _, _, err := net.SplitHostPort(cfg.Listen); err == nil && opts.Demo && !opts.DemoFlag && !isLoopback(cfg.Listen) {
		return fmt.Errorf("%w: no identity provider is configured, which means demo mode, and the demo's identity provider mints tokens for anyone who asks: "+
			"it does not listen on %q, which is not loopback. Give -issuer or -jwks-url (or -config) for a real gateway, or -demo to expose the demo deliberately", gateway.ErrInvalidConfig, cfg.Listen)
	}
	return nil
}

// Flags are the command line's settings beyond gateway.Config.
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
	// ConfigFile is -config: what SIGHUP and -watch reload. Empty means
	// none (SIGHUP is then ignored).
	ConfigFile string
	// Watch is -watch: reload ConfigFile when its content changes.
	Watch bool
	// ConfigDigest is the SHA-256 of the ConfigFile bytes the Config was
	// decoded from (gateway.LoadFileDigest): what -watch compares the file
	// with, so that an edit after this read is a change. Zero without
	// ConfigFile or when it could not be read. Also set, with ConfigFile,
	// when the file was read but does not decode.
	ConfigDigest [sha256.Size]byte
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
	case !gateway.ClaimHeaderAllowed(header):
		return fmt.Errorf("%q: %q is not a header the gateway may set", v, header)
	}
	if prev, dup := f[claim]; dup {
		return fmt.Errorf("%q: claim %q is already forwarded as %s", v, claim, prev)
	}
	f[claim] = header
	return nil
}

// splitList splits a comma-separated flag value, trimming spaces and
// dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
