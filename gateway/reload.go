package gateway

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrRestartRequired is wrapped by a Reload refused because the new
	// config changes a setting only a restart applies: listen, tls (whose
	// files are re-read when they change, without either) and
	// shutdown_timeout. The running config stays.
	ErrRestartRequired = errors.New("gateway: change needs a restart")
	// ErrKeysNotLoaded is wrapped by a Reload refused because a provider
	// the new config adds or changes had no keys when the reload's
	// window ended (Options.ReloadWindow). The running config stays;
	// reloading again tries again.
	ErrKeysNotLoaded = errors.New("gateway: new provider's keys not loaded")
	// ErrClosed is what Reload returns after Close.
	ErrClosed = errors.New("gateway: closed")
)

// ReloadEvent is what Options.OnReload receives after each Reload.
type ReloadEvent struct {
	// Generation numbers the config now serving new requests: the new
	// one after a reload that succeeded, the running one otherwise. New's
	// is 1.
	Generation uint64
	// Err is why the reload was refused (the running config stays), nil
	// when it succeeded. It wraps ErrInvalidConfig, ErrRestartRequired,
	// ErrKeysNotLoaded, ErrClosed or the context's error.
	Err error
	// Kept names what the new config took over from the running one with
	// its state (a provider's key cache, a route's rate limit or budget,
	// the Redis client, the upstream transport); Started names what it
	// made new. Both nil when the reload was refused.
	Kept, Started []string
	// Duration is how long the reload took, the wait for new providers'
	// keys included.
	Duration time.Duration
}

// pendingReload is a reload waiting for its new providers' keys, for
// /readyz.
type pendingReload struct {
	providers []*provider
}

// newReloadMetrics registers jwtgate_config_reloads_total, both results
// at 0 so that an alert on errors sees the series from the start.
func newReloadMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "jwtgate", Name: "config_reloads_total",
		Help: "Config reloads (SIGHUP, -watch, Gateway.Reload), by result: ok (the new config serves new requests), or error (refused; the running config stays).",
	}, []string{"result"})
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	c.WithLabelValues("ok")
	c.WithLabelValues("error")
	return c, nil
}

// Reload replaces the running config by cfg without dropping a request.
// cfg is validated completely first, and the new config is built beside
// the running one: a provider, route limit or budget, Redis client or
// upstream transport whose settings did not change is taken over with its
// state (no refetch of keys, no reset of what subjects have spent), and a
// new or changed provider is given Options.ReloadWindow to load its keys.
// Only then is the new config swapped in, atomically: requests that
// arrive after it see the new routes; requests and streams under way
// finish on the routes they started on, and what only the old config used
// is closed after its last request ends.
//
// Whatever goes wrong, the running config stays and serves on: the error
// wraps ErrInvalidConfig (the config, or a provider whose discovery
// document names another issuer), ErrRestartRequired (listen, tls or
// shutdown_timeout changed), ErrKeysNotLoaded (a new provider had no keys
// within the window), ErrClosed, or ctx's error (ctx bounds the whole
// call). Either way the reload is logged (a refused one with every
// problem), counted in jwtgate_config_reloads_total{result} and reported
// to Options.OnReload. Calls are serialized; safe for concurrent use.
func (g *Gateway) Reload(ctx context.Context, cfg Config) error {
	return g.ReloadFrom(ctx, func() (Config, error) { return cfg, nil })
}

// ReloadFrom is Reload with the config read by load, which runs in the
// reload's turn: a program reading a file passes the reading here, so a
// file that does not even parse is a refused reload like any other
// (logged, counted, reported). An error of load's that does not wrap
// ErrInvalidConfig is wrapped in it.
func (g *Gateway) ReloadFrom(ctx context.Context, load func() (Config, error)) error {
	start := time.Now()
	g.reloadMu.Lock()
	gen, err := g.reload(ctx, load)
	ev := ReloadEvent{Err: err, Duration: time.Since(start)}
	if err == nil {
		ev.Generation, ev.Kept, ev.Started = gen.id, gen.kept, gen.made
	} else {
		ev.Generation = g.cur.Load().id
	}
	g.reloadMu.Unlock()
	g.report(ev)
	return err
}

// reload is ReloadFrom's work, under reloadMu.
func (g *Gateway) reload(ctx context.Context, load func() (Config, error)) (*generation, error) {
	if g.life.Err() != nil {
		return nil, ErrClosed
	}
	cfg, err := load()
	if err != nil {
		if !errors.Is(err, ErrInvalidConfig) {
			err = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		return nil, err
	}
	if cfg, err = cfg.Validate(g.opts.LookupEnv); err != nil {
		return nil, err
	}
	cur := g.cur.Load()
	if err := restartOnly(cur.cfg, cfg); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	gen, err := g.build(ctx, cfg, g.nextID+1)
	if err != nil {
		return nil, err
	}
	if err := g.waitFresh(ctx, gen); err != nil {
		gen.releaseAll()
		return nil, err
	}
	g.nextID = gen.id
	g.cur.Store(gen)
	cur.done() // the last request on it closes what only it used
	return gen, nil
}

// restartOnly refuses a change to what the listener was set up with.
func restartOnly(old, cfg Config) error {
	var changed []string
	if old.Listen != cfg.Listen {
		changed = append(changed, fmt.Sprintf("listen %q → %q", old.Listen, cfg.Listen))
	}
	if !reflect.DeepEqual(old.TLS, cfg.TLS) {
		changed = append(changed, "tls (certificate and CA files are re-read when they change: renew them in place)")
	}
	if old.ShutdownTimeout != cfg.ShutdownTimeout {
		changed = append(changed, fmt.Sprintf("shutdown_timeout %v → %v", old.ShutdownTimeout, cfg.ShutdownTimeout))
	}
	if len(changed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; the running config stays: restart the gateway to apply it", ErrRestartRequired, strings.Join(changed, "; "))
}

// waitFresh waits until every provider the new generation made has keys,
// for at most Options.ReloadWindow, while /readyz says so. A discovery
// document naming another issuer is a config error at once (as at start);
// any other trouble is waited out until the window ends.
func (g *Gateway) waitFresh(ctx context.Context, gen *generation) error {
	if len(gen.fresh) == 0 {
		return nil
	}
	window := g.opts.ReloadWindow
	if window <= 0 {
		window = DefaultStartupWindow
	}
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	stop := context.AfterFunc(g.life, cancel) // Close does not wait out the window
	defer stop()
	g.pending.Store(&pendingReload{providers: gen.fresh})
	defer g.pending.Store(nil)
	for _, p := range gen.fresh {
		select {
		case <-p.first:
		case <-wctx.Done():
		}
		if wctx.Err() == nil {
			if err := p.issuerMismatch(); err != nil {
				return err
			}
		}
		if err := p.c.WaitReady(wctx); err != nil {
			switch {
			case g.life.Err() != nil:
				return ErrClosed
			case ctx.Err() != nil:
				return ctx.Err()
			}
			why := "no answer yet"
			if st := p.c.Status(); st.LastError != nil {
				why = p.redact(st.LastError.Error())
			}
			return fmt.Errorf("%w: provider %s: no keys within %v (%s); the running config stays: reload again to retry",
				ErrKeysNotLoaded, providerName(Provider{Issuer: p.issuer, JWKSURL: p.jwksURL}), window, why)
		}
	}
	return nil
}

// report logs a reload, counts it and calls Options.OnReload.
func (g *Gateway) report(ev ReloadEvent) {
	if ev.Err == nil {
		g.reloads.WithLabelValues("ok").Inc()
		g.log.Info("gateway: config reloaded", "generation", ev.Generation, "duration", ev.Duration,
			"kept", strings.Join(ev.Kept, ", "), "started", strings.Join(ev.Started, ", "))
	} else {
		g.reloads.WithLabelValues("error").Inc()
		// One line per problem: Validate's error holds them all, one a
		// line.
		for _, problem := range reloadProblems(ev.Err) {
			g.log.Error("gateway: reload refused; the running config stays", "generation", ev.Generation, "problem", problem)
		}
	}
	if g.opts.OnReload != nil {
		g.opts.OnReload(ev)
	}
}

// reloadProblems splits an error into its problems: Validate's (and a
// file's decoding error's) are one a line under a heading line.
func reloadProblems(err error) []string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) == 1 {
		return lines
	}
	var out []string
	head := strings.TrimSuffix(strings.TrimSpace(lines[0]), ":")
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, head+": "+l)
		}
	}
	if len(out) == 0 {
		return []string{head}
	}
	return out
}
