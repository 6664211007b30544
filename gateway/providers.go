package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jwtgate/jwtgate/cache"
)

// DefaultStartupWindow is how long Run waits for every provider's first
// key-set fetch before it listens (see Gateway.CheckStartup).
const DefaultStartupWindow = 5 * time.Second

// maxErrorText bounds an error's text in /readyz: it quotes documents the
// provider sent, which the cache truncates, but wrapping can add up.
const maxErrorText = 512

// provider is the gateway's view of one identity provider's key cache.
type provider struct {
	issuer  string // "" with a lone -jwks-url
	jwksURL string // as configured; "" means discovery
	c       *cache.Cache

	once     sync.Once
	first    chan struct{} // closed after the first refresh attempt
	firstErr error         // that attempt's error; read only after first is closed
}

func newProvider(cfg Provider) *provider {
	return &provider{issuer: cfg.Issuer, jwksURL: cfg.JWKSURL, first: make(chan struct{})}
}

// onRefresh is the cache's OnRefresh hook: it records the first attempt.
func (p *provider) onRefresh(e cache.RefreshEvent) {
	p.once.Do(func() {
		p.firstErr = e.Err
		close(p.first)
	})
}

// CheckStartup waits until every provider's first key-set fetch has ended,
// or ctx ends, and returns an ErrInvalidConfig error if one of them answered with
// a discovery document naming another issuer (cache.ErrIssuerMismatch):
// the provider is up and says the configured issuer is wrong (a trailing
// "/", localhost for 127.0.0.1), which no amount of waiting repairs, so the
// gateway should not start and answer 503 forever. Any other failure, and a
// provider still silent when ctx ends, is an outage: nil, and /readyz gives
// the reason until the provider is back.
func (g *Gateway) CheckStartup(ctx context.Context) error {
	var errs []error
	for _, p := range g.cur.Load().providers {
		select {
		case <-p.first:
		case <-ctx.Done():
			return errors.Join(errs...)
		}
		if err := p.issuerMismatch(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// issuerMismatch is the configuration error of a provider whose first
// answer was a discovery document naming another issuer; nil otherwise.
// Read it once p.first is closed.
func (p *provider) issuerMismatch() error {
	if !errors.Is(p.firstErr, cache.ErrIssuerMismatch) {
		return nil
	}
	return fmt.Errorf("%w: provider %q: %s (the configured issuer must equal the document's issuer exactly, trailing slash and host name included)",
		ErrInvalidConfig, p.issuer, p.redact(p.firstErr.Error()))
}

// ProviderStatus is one provider's state as /readyz reports it.
type ProviderStatus struct {
	Issuer              string     `json:"issuer,omitempty"`
	JWKSURL             string     `json:"jwks_url,omitempty"` // "" until discovery has found it
	Ready               bool       `json:"ready"`
	Keys                int        `json:"keys"`
	Breaker             string     `json:"breaker"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastSuccess         *time.Time `json:"last_success,omitempty"`
	LastError           string     `json:"last_error,omitempty"` // the latest failure, even if later attempts succeeded
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
}

// Providers reports each provider's state, in configuration order. URLs
// lose their query and fragment: a JWKS URL may carry an API key.
func (g *Gateway) Providers() []ProviderStatus { return providerStatuses(g.cur.Load().providers) }

func providerStatuses(ps []*provider) []ProviderStatus {
	out := make([]ProviderStatus, len(ps))
	for i, p := range ps {
		st := p.c.Status()
		ps := ProviderStatus{
			Issuer: p.issuer, JWKSURL: redactURL(st.URL), Ready: st.Ready, Keys: len(st.Keys),
			Breaker: st.Breaker, ConsecutiveFailures: st.ConsecutiveFailures,
		}
		if !st.LastSuccess.IsZero() {
			ps.LastSuccess = &st.LastSuccess
		}
		if st.LastError != nil {
			ps.LastError = p.redact(st.LastError.Error())
			if len(ps.LastError) > maxErrorText {
				ps.LastError = strings.ToValidUTF8(ps.LastError[:maxErrorText], "") + "…"
			}
			ps.LastErrorAt = &st.LastErrorAt
		}
		out[i] = ps
	}
	return out
}

// redact replaces the provider's URLs in an error's text by their
// redactURL form.
func (p *provider) redact(text string) string {
	for _, u := range []string{p.jwksURL, p.c.Status().URL} {
		if r := redactURL(u); u != "" && r != u {
			text = strings.ReplaceAll(text, u, r)
		}
	}
	return text
}

// redactURL drops a URL's query, fragment and user info.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	if u.RawQuery == "" && u.Fragment == "" && u.User == nil && !u.ForceQuery {
		return s
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.User, u.ForceQuery = "", "", "", nil, false
	return u.String()
}

// serveReadyz answers 200 when every key set of the generation serving
// new requests is loaded and fresh, else 503, with each provider's state
// either way so that an operator sees why. While a reload waits for a new
// provider's keys, "reload" says which; the running config still serves
// (and says 200 when it is ready), since the reload swaps nothing in
// until those keys are there.
func (gen *generation) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	status, msg := http.StatusOK, "ready"
	if !gen.ready() {
		status, msg = http.StatusServiceUnavailable, "keys not loaded"
		w.Header().Set("Retry-After", "1")
	}
	body := struct {
		Status    string           `json:"status"`
		Providers []ProviderStatus `json:"providers"`
		Reload    *reloadStatus    `json:"reload,omitempty"`
	}{Status: msg, Providers: providerStatuses(gen.providers)}
	if pr := gen.g.pending.Load(); pr != nil {
		body.Reload = &reloadStatus{
			Status:    "waiting for the keys of new providers; the running config serves meanwhile",
			Providers: providerStatuses(pr.providers),
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // a failed write means the prober left
}

// reloadStatus is /readyz's account of a reload under way.
type reloadStatus struct {
	Status    string           `json:"status"`
	Providers []ProviderStatus `json:"providers"` // the new ones it waits for
}

// providerName is how logs and reload events name a provider: its issuer,
// else its JWK Set's URL (redacted) or file.
func providerName(p Provider) string {
	return strconv.Quote(cmp.Or(p.Issuer, redactURL(p.JWKSURL), p.JWKSFile))
}
