package cache

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultFetchTimeout       = 10 * time.Second
	DefaultMaxBodyBytes       = 1 << 20 // 1 MiB
	DefaultMaxKeys            = 100
	DefaultTTL                = time.Hour
	DefaultFileCheckInterval  = 5 * time.Second
	DefaultMinRefreshInterval = time.Minute
	DefaultMaxRefreshInterval = 24 * time.Hour
	DefaultRefreshAhead       = 0.8
	DefaultRefreshJitter      = 0.1
	DefaultUnknownKIDInterval = time.Second
	DefaultUnknownKIDWait     = 2 * time.Second
	DefaultMaxStale           = 24 * time.Hour
	DefaultBreakerFailures    = 5
	DefaultBreakerTimeout     = 30 * time.Second
	DefaultRetryMin           = time.Second
	DefaultRetryMax           = 5 * time.Minute
)

// DefaultUnknownKIDBurst was the default of Config.UnknownKIDBurst.
//
// Deprecated: UnknownKIDBurst is ignored; unknown kids are judged by the
// set's freshness (see Config.UnknownKIDInterval).
const DefaultUnknownKIDBurst = 3

// Config configures a Cache. The zero value of every field except URL/Issuer
// is usable and means the documented default. New copies the Config; changing
// it afterwards has no effect.
type Config struct {
	// URL is the JWK Set URL. It must be https unless the host is a loopback
	// address or AllowInsecureHTTP is set. Leave it empty and set Issuer to
	// find it by OIDC discovery.
	URL string

	// File, when set, is a JWK Set on disk to serve instead of fetching
	// one (a mounted Kubernetes Secret, an air-gapped install): read at
	// start and again every FileCheckInterval; a changed file is loaded
	// with the same parse rules and key hygiene as a fetched set, and one
	// that is unreadable or invalid keeps the last good set (Status and
	// Ready say so, as for a failing provider). Set File or URL, not
	// both; Issuer then only names the provider.
	File string
	// FileCheckInterval is how often File is read for a change. 0 means
	// 5s.
	FileCheckInterval time.Duration

	// Issuer is the OIDC issuer. With URL empty, the JWKS URL is the
	// discovery document's jwks_uri, from {Issuer}/.well-known/openid-configuration;
	// the document's issuer must equal Issuer exactly. With URL set, Issuer
	// only names the provider (and is the key in a Multi).
	Issuer string

	// Name labels the provider in logs, events and Status. "" means Issuer,
	// or URL when Issuer is empty.
	Name string

	// HTTPClient performs every request. nil means a client with its own
	// clone of http.DefaultTransport (its idle connections are closed by
	// Close); the time-out is FetchTimeout. The cache uses a shallow copy whose
	// CheckRedirect enforces at most 3 redirects and never https → http
	// (then calls the client's own CheckRedirect, if any).
	HTTPClient *http.Client

	// FetchTimeout bounds each HTTP request, body included. 0 means 10s.
	FetchTimeout time.Duration

	// MaxBodyBytes bounds a response body; a larger body is an error and
	// never replaces the good set. 0 means 1 MiB.
	MaxBodyBytes int64

	// MaxKeys bounds the number of keys in a set; a larger set is an error.
	// 0 means 100.
	MaxKeys int

	// DefaultTTL is the key set's lifetime when the response carries neither
	// Cache-Control max-age nor Expires. 0 means 1h. It is clamped like a
	// provider-sent TTL.
	DefaultTTL time.Duration

	// MinRefreshInterval and MaxRefreshInterval clamp the TTL taken from the
	// response. 0 means 1 min and 24h; MinRefreshInterval must be at least 1s.
	MinRefreshInterval time.Duration
	MaxRefreshInterval time.Duration

	// RefreshAhead is the fraction of the TTL after which a background
	// refresh starts, in (0, 1). 0 means 0.8.
	RefreshAhead float64

	// RefreshJitter is the largest fraction of the TTL randomly taken off
	// the refresh-ahead point, so that replicas do not fetch in lock-step,
	// in [0, RefreshAhead). 0 means 0.1; a negative value means no jitter.
	RefreshJitter float64

	// UnknownKIDInterval is how long a fetched or revalidated set is
	// authoritative for kids it does not hold, counted from when the
	// request that brought it (200) or revalidated it (304) was sent. Within
	// it, a KeyRead for a kid not in the set is "unknown kid" (401) with no
	// fetch; after it, such a read waits (see UnknownKIDWait) for one
	// conditional refetch shared by every read and KeyRecheck that needs
	// one, and the kid is unknown only if the refetched set lacks it too.
	// So a key published at t is found by t + UnknownKIDInterval + one
	// fetch, whatever unknown-kid traffic arrives, and that traffic costs
	// the provider at most one request per UnknownKIDInterval. While the
	// provider fails, reads probe it at most once a second and get a
	// *DeferredError (503). 0 means 1s (it was 10s, with a budget of
	// refreshes, before freshness decided); a negative value disables
	// unknown-kid refetches, and a kid not in the set is then always
	// unknown. A value under 1s lets a flood fetch more often than once a
	// second; above 1s, a new key may take longer than 2s to be seen.
	UnknownKIDInterval time.Duration

	// UnknownKIDBurst is ignored.
	//
	// Deprecated: it sized a budget of unknown-kid refreshes that let a
	// flood of junk kids turn into 503s and hold back a new key; the set's
	// freshness decides instead (see UnknownKIDInterval). It is kept so
	// that configurations setting it still compile.
	UnknownKIDBurst int

	// UnknownKIDWait bounds how long a KeyRead for a kid not in the set (or
	// a KeyRecheck) waits for the refetch that looks for it (the caller's
	// ctx may end the wait sooner). A refetch still running then goes on in
	// the background, bounded by FetchTimeout and stopped by Close, and the
	// read returns a *DeferredError (ErrKeysUnavailable: 503) whose
	// RetryAfter says when to try again. 0 means 2s.
	UnknownKIDWait time.Duration

	// MaxStale is how long after its expiry the last good set keeps being
	// served while refreshes fail. After that Ready is false and reads
	// return ErrKeysUnavailable. 0 means 24h.
	MaxStale time.Duration

	// BreakerFailures is the number of consecutive failed fetches after
	// which the circuit breaker opens. 0 means 5.
	BreakerFailures uint32

	// BreakerTimeout is how long the breaker stays open before it lets one
	// probe request through (half-open). 0 means 30s.
	BreakerTimeout time.Duration

	// RetryMin and RetryMax bound the exponential back-off (with jitter)
	// between failed background refreshes. 0 means 1s and 5 min.
	RetryMin time.Duration
	RetryMax time.Duration

	// AllowInsecureHTTP allows plain-http URLs to non-loopback hosts. Even
	// then a redirect from https to http is refused. Default false.
	AllowInsecureHTTP bool

	// WaitForFirstLoad makes New wait, bounded by its ctx, until a key set
	// is loaded; if ctx ends first New returns ctx's error and no Cache.
	// Default false: New returns at once and loads in the background.
	WaitForFirstLoad bool

	// CacheFile, if set, is a file where the last good set is written
	// (atomically) after each successful fetch and read back at start when
	// the provider cannot be reached, subject to MaxStale. A corrupt or
	// foreign file is ignored with a log line. "" means no file.
	CacheFile string

	// Logger receives the cache's log lines. nil means slog.Default(); use
	// slog.New(slog.DiscardHandler) to silence it.
	Logger *slog.Logger

	// Observer receives events for metrics. The zero value observes nothing.
	Observer Observer

	// now replaces time.Now in tests that drive staleness by hand. nil means time.Now.
	now func() time.Time
}

// withDefaults returns a copy of cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.Name == "" {
		cfg.Name = cmp.Or(cfg.Issuer, cfg.URL, cfg.File)
	}
	if cfg.FileCheckInterval == 0 {
		cfg.FileCheckInterval = DefaultFileCheckInterval
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = DefaultTTL
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.MaxRefreshInterval == 0 {
		cfg.MaxRefreshInterval = DefaultMaxRefreshInterval
	}
	if cfg.RefreshAhead == 0 {
		cfg.RefreshAhead = DefaultRefreshAhead
	}
	if cfg.RefreshJitter == 0 {
		cfg.RefreshJitter = DefaultRefreshJitter
	} else if cfg.RefreshJitter < 0 {
		cfg.RefreshJitter = 0
	}
	if cfg.UnknownKIDInterval == 0 {
		cfg.UnknownKIDInterval = DefaultUnknownKIDInterval
	}
	if cfg.UnknownKIDWait == 0 {
		cfg.UnknownKIDWait = DefaultUnknownKIDWait
	}
	if cfg.MaxStale == 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerTimeout == 0 {
		cfg.BreakerTimeout = DefaultBreakerTimeout
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return cfg
}

// validate checks a Config that has been through withDefaults.
func (cfg Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case cfg.URL == "" && cfg.Issuer == "" && cfg.File == "":
		return bad("URL, Issuer or File is required")
	case cfg.File != "" && cfg.URL != "":
		return bad("set URL or File, not both")
	case cfg.FileCheckInterval < 0:
		return bad("FileCheckInterval %v is negative", cfg.FileCheckInterval)
	case cfg.FetchTimeout < 0:
		return bad("FetchTimeout %v is negative", cfg.FetchTimeout)
	case cfg.MaxBodyBytes < 0:
		return bad("MaxBodyBytes %d is negative", cfg.MaxBodyBytes)
	case cfg.MaxKeys < 0:
		return bad("MaxKeys %d is negative", cfg.MaxKeys)
	case cfg.DefaultTTL < 0, cfg.MinRefreshInterval < 0, cfg.MaxRefreshInterval < 0:
		return bad("TTL and refresh intervals must not be negative")
	case cfg.MinRefreshInterval < time.Second:
		// A provider saying max-age=0 must not turn the cache into a fetch loop.
		return bad("MinRefreshInterval %v is under 1s", cfg.MinRefreshInterval)
	case cfg.MinRefreshInterval > cfg.MaxRefreshInterval:
		return bad("MinRefreshInterval %v exceeds MaxRefreshInterval %v", cfg.MinRefreshInterval, cfg.MaxRefreshInterval)
	case !(cfg.RefreshAhead > 0 && cfg.RefreshAhead < 1):
		return bad("RefreshAhead %v is not in (0, 1)", cfg.RefreshAhead)
	case cfg.RefreshJitter >= cfg.RefreshAhead:
		return bad("RefreshJitter %v is not below RefreshAhead %v", cfg.RefreshJitter, cfg.RefreshAhead)
	case cfg.UnknownKIDWait < 0:
		return bad("UnknownKIDWait %v is negative", cfg.UnknownKIDWait)
	case cfg.MaxStale < 0:
		return bad("MaxStale %v is negative", cfg.MaxStale)
	case cfg.BreakerTimeout < 0:
		return bad("BreakerTimeout %v is negative", cfg.BreakerTimeout)
	case cfg.RetryMin < 0 || cfg.RetryMax < 0 || cfg.RetryMin > cfg.RetryMax:
		return bad("RetryMin %v / RetryMax %v are not a valid range", cfg.RetryMin, cfg.RetryMax)
	}
	if cfg.URL != "" {
		if err := checkURL(cfg.URL, cfg.AllowInsecureHTTP); err != nil {
			return bad("URL: %w", err)
		}
	}
	if cfg.Issuer != "" && cfg.URL == "" && cfg.File == "" {
		if err := checkURL(cfg.Issuer, cfg.AllowInsecureHTTP); err != nil {
			return bad("Issuer: %w", err)
		}
	}
	return nil
}

// checkURL reports whether raw is an absolute http(s) URL the cache may fetch.
func checkURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("cache: parse url: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("cache: url %q has no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("cache: url must not carry credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowInsecure || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %q is http to a non-loopback host", ErrInsecureURL, raw)
	default:
		return fmt.Errorf("%w: scheme %q", ErrInsecureURL, u.Scheme)
	}
}
