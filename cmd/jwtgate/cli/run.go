package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/demo"
)

// Exit codes of Main and Run.
const (
	ExitOK     = 0
	ExitFailed = 1 // could not listen, or serving failed
	ExitUsage  = 2 // bad flags or config; nothing was started
)

// Demo-mode settings: what the printed token holds and the routes require.
const (
	demoAudience       = "jwtgate-demo"
	demoScopes         = "demo:read llm:use"
	demoSubject        = "demo-user"
	demoUpstreamKeyEnv = "JWTGATE_DEMO_UPSTREAM_KEY"
)

// Env is what Run needs from the outside world. Zero fields mean the
// process's own (os.Stdout, os.Stderr, os.LookupEnv, gateway.Options{}).
type Env struct {
	Stdout, Stderr io.Writer
	LookupEnv      func(string) (string, bool)
	// Options go to gateway.New. Their LookupEnv is replaced by the one above,
	// and a nil Logger by one writing text to Stderr.
	Options gateway.Options
	// StartupWindow bounds how long Run waits for the providers' first
	// answers before listening (see Gateway.CheckStartup). 0 means
	// gateway.DefaultStartupWindow.
	StartupWindow time.Duration
	// RotateEvery overrides the demo provider's key rotation period.
	// 0 means its default (5 min).
	RotateEvery time.Duration
	// OnServe is called once the gateway listens (in demo mode, once it
	// also has the demo's keys). nil means nothing is called.
	OnServe func(ServeEvent)
	// Reload delivers the signals that reload -config (Main's is SIGHUP).
	// nil means none.
	Reload <-chan os.Signal
	// WatchDebounce is how long -watch waits for the config file's
	// directory to be quiet before it reads the file. 0 means
	// DefaultWatchDebounce.
	WatchDebounce time.Duration

	onCheck   func(changed bool) // tests: called each time the reloader has read -config
	afterLoad func()             // tests: called once Run's ParseArgs has read -config
}

// ServeEvent is what Env.OnServe receives.
type ServeEvent struct {
	// URL is the gateway's base URL, "http://host:port", or
	// "https://host:port" with gateway.Config.TLS.
	URL string
	// Demo reports whether the gateway runs the embedded demo provider.
	Demo bool

	demo *demo.Provider // in demo mode: the package's tests mint with it
}

// Main is the gateway program: it runs until SIGINT or SIGTERM and returns
// the exit code; SIGHUP reloads the -config file.
func Main(args []string) int { return mainEnv(args, Env{}) }

func mainEnv(args []string, env Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if env.Reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		env.Reload = hup
	}
	return Run(ctx, args, env)
}

// Run parses args, starts the gateway (and, with no provider or upstream
// flags, the demo provider and upstream), serves until ctx ends, shuts down
// gracefully and returns the exit code.
//
// Before listening it gives every provider StartupWindow to answer once. A
// discovery document naming another issuer than the configured one is a
// config error (ExitUsage): that provider is up and will keep saying so. A
// provider that is down or silent is an outage: Run serves anyway, /readyz
// answers 503 with the reason, and the key cache keeps retrying.
//
// Each signal from Env.Reload, and with -watch each change of the
// -config file's content, reloads the file with the same flags over it
// (gateway.Gateway.ReloadFrom): a file that does not load or validate, or
// changes what only a restart changes, keeps the running config. Each new
// provider gets StartupWindow to load its keys.
func Run(ctx context.Context, args []string, env Env) int {
	env = env.withDefaults()
	log := env.Options.Logger
	cfg, opts, err := ParseArgs(args, env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return env.usage(withRestOfFile(err, cfg, env.LookupEnv))
	}
	if env.afterLoad != nil {
		env.afterLoad()
	}

	var d *demoParts
	if opts.Demo {
		io.WriteString(env.Stderr, demoWarning(cfg.Listen, opts.DemoFlag))
		if d, err = startDemo(&cfg, env); err != nil {
			fmt.Fprintf(env.Stderr, "gateway: demo: %v\n", err)
			return ExitFailed
		}
		defer d.stop()
		env.LookupEnv = withDemoUpstreamKey(env.LookupEnv)
	}
	cfg, err = cfg.Validate(env.LookupEnv)
	if err != nil {
		return env.usage(err)
	}
	if len(cfg.Providers) == 1 && cfg.Providers[0].Issuer == "" {
		log.Warn("gateway: no -issuer: the iss claim is not checked")
	}

	env.Options.LookupEnv = env.LookupEnv
	if env.Options.ReloadWindow == 0 {
		env.Options.ReloadWindow = env.StartupWindow
	}
	if env.Options.Tracing == nil {
		tr, shutdown, err := gateway.TracingFromEnv(ctx, env.LookupEnv)
		if err != nil {
			return env.usage(err)
		}
		if tr != nil {
			env.Options.Tracing = tr
			defer flushTraces(shutdown, log)
		}
	}
	g, err := gateway.New(ctx, cfg, env.Options)
	if err != nil {
		return env.usage(err)
	}
	defer g.Close()
	if err := checkStartupWithin(ctx, g, env.StartupWindow); err != nil {
		return env.usage(err)
	}
	rl, err := newReloader(g, args, opts, env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "gateway: -watch: %v\n", err)
		return ExitFailed
	}
	rl.start(ctx)
	defer rl.stop() // before the gateway closes
	ln, err := listen(cfg.Listen, opts)
	if err != nil {
		fmt.Fprintf(env.Stderr, "gateway: listen: %v\n", err)
		return ExitFailed
	}
	return serveUntilDone(ctx, g, ln, d, len(cfg.Routes), env)
}

// withDefaults fills env's zero fields with the process's own.
func (env Env) withDefaults() Env {
	if env.Stdout == nil {
		env.Stdout = os.Stdout
	}
	if env.Stderr == nil {
		env.Stderr = os.Stderr
	}
	if env.LookupEnv == nil {
		env.LookupEnv = os.LookupEnv
	}
	if env.Options.Logger == nil {
		env.Options.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return env
}

// usage reports a configuration error and returns ExitUsage.
func (env Env) usage(err error) int {
	// Every error here is the package's, "gateway: …" already.
	fmt.Fprintf(env.Stderr, "%v\nRun with -h for the flags.\n", err)
	return ExitUsage
}

// withRestOfFile adds to a config file's type error the file's other
// problems: a value of the wrong type must not hide them, one run names
// them all.
func withRestOfFile(err error, cfg gateway.Config, lookupEnv func(string) (string, bool)) error {
	if _, partial := errors.AsType[*yaml.TypeError](err); !partial {
		return err
	}
	if _, verr := cfg.Validate(lookupEnv); verr != nil {
		return fmt.Errorf("%w\n  and in the rest of the file:%s", err, strings.TrimPrefix(verr.Error(), gateway.ErrInvalidConfig.Error()+":"))
	}
	return err
}

// withDemoUpstreamKey gives the demo route's upstream credential a value
// when the environment has none.
func withDemoUpstreamKey(lookup func(string) (string, bool)) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := lookup(k); ok || k != demoUpstreamKeyEnv {
			return v, ok
		}
		return "demo-upstream-key", true
	}
}

// checkStartupWithin is CheckStartup bounded by window (0: the default).
func checkStartupWithin(ctx context.Context, g *gateway.Gateway, window time.Duration) error {
	if window <= 0 {
		window = gateway.DefaultStartupWindow
	}
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	return g.CheckStartup(wctx)
}

// listen listens on addr; the demo falls back to a free loopback port when
// the default address is taken, so it starts on a fresh machine whatever
// holds 8080.
func listen(addr string, opts Flags) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil && opts.Demo && !opts.ListenSet {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	return ln, err
}

// serveUntilDone serves g on ln until ctx ends, announcing it (the demo's
// banner or the listening line, then OnServe), and returns the exit code.
func serveUntilDone(ctx context.Context, g *gateway.Gateway, ln net.Listener, d *demoParts, routes int, env Env) int {
	gwURL := g.Scheme() + "://" + ln.Addr().String()
	served := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { served <- g.Serve(sctx, ln) }()

	if d != nil {
		if err := d.announce(ctx, g, gwURL, env.Stdout); err != nil {
			fmt.Fprintf(env.Stderr, "gateway: demo: %v\n", err)
			cancel()
			<-served
			return ExitFailed
		}
	} else {
		io.WriteString(env.Stdout, listeningLine(gwURL, routes))
	}
	if env.OnServe != nil {
		ev := ServeEvent{URL: gwURL, Demo: d != nil}
		if d != nil {
			ev.demo = d.provider
		}
		env.OnServe(ev)
	}
	if err := <-served; err != nil {
		fmt.Fprintf(env.Stderr, "gateway: %v\n", err)
		return ExitFailed
	}
	env.Options.Logger.Info("gateway: stopped")
	return ExitOK
}

// demoParts are the demo provider and upstream, each on its own loopback
// port, with the goroutines serving them.
type demoParts struct {
	provider    *demo.Provider
	upstreamURL string
	audience    string // what the printed token's aud is
	servers     []*http.Server
	wg          sync.WaitGroup
}

func startDemo(cfg *gateway.Config, env Env) (d *demoParts, err error) {
	d = &demoParts{}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		idpLn.Close()
		return nil, err
	}
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []string{demoAudience}
	}
	d.audience = cfg.Audiences[0]
	d.provider, err = demo.NewProvider(demo.ProviderConfig{
		Issuer:      "http://" + idpLn.Addr().String(),
		RotateEvery: env.RotateEvery,
		// The /token endpoint's tokens must pass this gateway, -audience
		// included.
		DefaultAudience: d.audience,
		DefaultScope:    demoScopes,
	})
	if err != nil {
		idpLn.Close()
		upLn.Close()
		return nil, err
	}
	d.upstreamURL = "http://" + upLn.Addr().String()
	d.serve(idpLn, d.provider.Handler())
	d.serve(upLn, demo.NewUpstream(demo.UpstreamConfig{}))

	cfg.Issuer = d.provider.Issuer()
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = 5, 10
	}
	// The stream costs 2 units, unless a -rate/-burst given for the demo
	// leaves a burst below that (a weight above the burst never passes).
	weight := 2
	if burst := cfg.Burst; burst == 0 && math.Ceil(cfg.Rate) < 2 || burst == 1 {
		weight = 1
	}
	claims := map[string]string{"sub": "X-Jwtgate-Subject", "scope": "X-Jwtgate-Scope"}
	cfg.Routes = []gateway.Route{
		{Prefix: "/api/", Upstream: d.upstreamURL, Scopes: []string{"demo:read"}, ClaimHeaders: claims},
		{
			Prefix: "/llm/", Upstream: d.upstreamURL, Scopes: []string{"llm:use"}, ClaimHeaders: claims,
			Weight: weight, DropAuthorization: true, UpstreamAuth: &gateway.UpstreamAuth{Env: demoUpstreamKeyEnv},
		},
		{
			Prefix: "/openai/", Upstream: d.upstreamURL, StripPrefix: true, Scopes: []string{"llm:use"}, ClaimHeaders: claims,
			DropAuthorization: true, UpstreamAuth: &gateway.UpstreamAuth{Env: demoUpstreamKeyEnv},
			Budget: &gateway.RouteBudget{
				Currency: "USD", Limit: int64(demoBudget), Window: "hour", Format: "openai", IncludeUsage: true,
				Prices: &gateway.BudgetPrices{Default: true, Models: map[string]budget.Price{demo.ChatModel: demoPrice}},
			},
		},
	}
	return d, nil
}

func (d *demoParts) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.servers = append(d.servers, srv)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		_ = srv.Serve(ln) // returns ErrServerClosed on stop
	}()
}

func (d *demoParts) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range d.servers {
		if s.Shutdown(ctx) != nil {
			_ = s.Close()
		}
	}
	d.wg.Wait()
}

// announce waits for the gateway to have the demo keys (so the printed
// lines work at once), mints the tokens and prints how to use them.
func (d *demoParts) announce(ctx context.Context, g *gateway.Gateway, gwURL string, w io.Writer) error {
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := g.WaitReady(wctx); err != nil {
		return err
	}
	tok, err := d.provider.Mint(demo.Token{Subject: demoSubject, Audience: []string{d.audience}, Scope: demoScopes})
	if err != nil {
		return err
	}
	other, err := d.provider.Mint(demo.Token{Subject: demoOtherSubject, Audience: []string{d.audience}, Scope: demoOtherScope})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, demoBanner(demoInfo{
		issuer: d.provider.Issuer(), jwksURL: d.provider.JWKSURL(), rotate: d.provider.RotateEvery(),
		upstream: d.upstreamURL, gateway: gwURL, ttl: d.provider.TokenTTL(),
		token: tok, otherToken: other,
	}))
	return err
}

// The demo's dollar budget (route /openai/): its model priced at $1 and
// $4 per million input and output tokens (on top of the shipped list
// prices), so an answer costs $0.00009 and the budget holds three, so that
// the printed line's 4th run is refused.
var demoPrice = budget.Price{Input: 1_000_000, Output: 4_000_000}

const (
	demoAnswerCost budget.Micros = (demo.ChatPromptTokens*1_000_000 + demo.ChatCompletionTokens*4_000_000) / 1_000_000
	demoBudget                   = 3 * demoAnswerCost
	demoChatBody                 = `{"model":"demo-mini","messages":[{"role":"user","content":"Hello"}]}`
)

// Demo-mode further subjects, with the one scope /api/ needs: one in a
// printed token, one in the example of the provider's /token endpoint (a
// subject of its own, so trying it never meets the first one's rate limit).
const (
	demoOtherSubject = "alice"
	demoMintSubject  = "bob"
	demoOtherScope   = "demo:read"
)

// demoInfo is what the demo banner names.
type demoInfo struct {
	issuer, jwksURL, upstream, gateway string
	rotate, ttl                        time.Duration
	token, otherToken                  string // for demoSubject and demoOtherSubject
}

// demoBanner is what demo mode prints once it is ready: every curl line in
// it works when pasted as it is.
func demoBanner(i demoInfo) string {
	return fmt.Sprintf(`jwtgate demo: identity provider, upstream and gateway on loopback (Ctrl-C stops).

  identity provider  %s   (JWKS %s, key rotates every %s)
  demo upstream      %s
  gateway            %s   (/healthz /readyz /metrics)

A request with a fresh token (sub=%s, scope "%s", valid %s):

curl -H "Authorization: Bearer %s" %s/api/hello

A server-sent-events stream through the gateway (unbuffered; the client's token is replaced by an upstream key):

curl -N -H "Authorization: Bearer %s" %s/llm/stream

An OpenAI-compatible chat completion under a dollar budget ($%s an hour; %s at $%s/$%s per million input/output tokens costs $%s an answer, priced from the upstream's usage; RateLimit shows what is left, in micro-dollars): run this a few times, the 4th answers 429 with Retry-After:

curl -H "Authorization: Bearer %s" -H "Content-Type: application/json" -d '%s' %s/openai/v1/chat/completions

Another subject (sub=%s, scope "%s"; /llm/stream would be 403):

curl -H "Authorization: Bearer %s" %s/api/hello

Without a token (401):  curl -i %s/api/hello
More tokens, as JSON (the access_token field):  curl '%s/token?sub=%s&scope=%s'
`,
		i.issuer, i.jwksURL, i.rotate,
		i.upstream, i.gateway,
		demoSubject, demoScopes, i.ttl,
		i.token, i.gateway,
		i.token, i.gateway,
		demoBudget, demo.ChatModel, demoPrice.Input, demoPrice.Output, demoAnswerCost,
		i.token, demoChatBody, i.gateway,
		demoOtherSubject, demoOtherScope,
		i.otherToken, i.gateway,
		i.gateway,
		i.issuer, demoMintSubject, demoOtherScope)
}

// demoWarning is the banner demo mode prints on stderr before it starts:
// whoever runs it must not mistake it for a gateway that checks anything.
func demoWarning(listen string, exposed bool) string {
	s := "jwtgate: *** DEMO MODE *** no identity provider is configured, so the gateway trusts an embedded DEMO identity provider\n" +
		"jwtgate: *** DEMO MODE *** which mints a valid token for anyone who can reach it: for trying jwtgate out, never for real traffic.\n" +
		"jwtgate: *** DEMO MODE *** give -issuer or -jwks-url (or -config) for a real gateway.\n"
	if exposed && !isLoopback(listen) {
		s += fmt.Sprintf("jwtgate: *** DEMO MODE *** -demo: listening on %s, beyond loopback: anyone who reaches it can use the printed tokens.\n", listen)
	}
	return s
}

// listeningLine is what Run prints once a gateway not in demo mode listens.
func listeningLine(gwURL string, routes int) string {
	noun := "routes"
	if routes == 1 {
		noun = "route"
	}
	return fmt.Sprintf("jwtgate gateway listening on %s (%d %s; /healthz /readyz /metrics)\n", gwURL, routes, noun)
}

// flushTraces gives the exporter a few seconds to send what is queued.
func flushTraces(shutdown func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("gateway: flushing traces", "err", err)
	}
}
