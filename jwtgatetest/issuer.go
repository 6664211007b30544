package jwtgatetest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// Paths the issuer serves, relative to its URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// Defaults of the claims Mint fills in when the test leaves them empty.
const (
	DefaultSubject  = "test-user"
	DefaultAudience = "api"
	DefaultTokenTTL = time.Hour
	DefaultType     = "JWT"
)

// ErrOptions is wrapped by every error Start and NewIssuer return for bad
// IssuerOptions.
var ErrOptions = errors.New("jwtgatetest: invalid issuer options")

// TB is the part of testing.TB the kit uses; *testing.T, *testing.B and
// *testing.F satisfy it. It is an interface of its own so that Example
// functions and programs, which have no *testing.T, can pass a small
// stand-in (or use the error-returning variants: Start, Sign, Storage, …).
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// IssuerOptions configures an Issuer. The zero value is usable: every
// algorithm, a loopback address, plain HTTP, shared RSA keys, time.Now.
type IssuerOptions struct {
	// Algorithms the issuer has keys for, one key each, from
	// SupportedAlgorithms. The first is the one Mint uses unless
	// MintOptions.Alg says otherwise. Empty: all of SupportedAlgorithms()
	// (ES256 first).
	Algorithms []string
	// Addr is the listen address. Its host must be a loopback IP (127.0.0.0/8
	// or ::1) or "localhost": the issuer mints any token it is asked for and
	// must never be reachable from elsewhere; any other host is refused with
	// ErrOptions. "": "127.0.0.1:0" (a free port).
	Addr string
	// TLS serves https with httptest's self-signed certificate; use Client
	// (or its Transport) to trust it. False: plain http.
	TLS bool
	// URL, when set, is the issuer's URL (an absolute http or https URL; a
	// trailing slash is dropped) and no server is started: the caller serves
	// Handler under it, or reaches it through Client, which serves it in
	// memory. That is the mode for a testing/synctest bubble (which cannot
	// use real sockets: create the issuer inside the bubble) and for a
	// program that mounts the provider on a server of its own. Addr and TLS
	// must then be unset. "": a server on Addr, whose URL is the issuer's.
	URL string
	// Discovery adds members to the discovery document ("token_endpoint",
	// "scopes_supported", …). It cannot replace issuer or jwks_uri (a
	// Behavior can, as a fault). Nil: none.
	Discovery map[string]any
	// FreshKeys generates new RSA keys for this issuer instead of taking
	// them from the process-wide pool. Without it, issuers in one process
	// share RSA key material (under different kids), so a test that needs
	// one issuer's RSA signature to fail against another's keys sets it.
	// ECDSA and Ed25519 keys are always fresh (they are cheap).
	FreshKeys bool
	// Type is the typ header of minted tokens. "": "JWT"; RFC 9068 access
	// tokens use "at+jwt".
	Type string
	// Audience is the aud of minted tokens that set none. "": "api".
	Audience string
	// TokenTTL is the lifetime of minted tokens that set no ExpiresAt.
	// 0: one hour.
	TokenTTL time.Duration
	// Now is the clock for iat, exp, nbf and Last-Modified, so tokens can be
	// minted relative to a testing/synctest bubble or an injected clock.
	// Nil: time.Now.
	Now func() time.Time
	// OnRequest is called as each discovery or JWK Set request arrives,
	// after it is counted and before any fault applies, on the request's
	// goroutine with no lock held: a test can learn that a client has
	// started fetching (and is now held by a Hang) without sleeping. Nil:
	// nothing is called.
	OnRequest func(Request)
}

// Request describes one request to the issuer's server, for
// IssuerOptions.OnRequest.
type Request struct {
	// Path is DiscoveryPath or JWKSPath.
	Path string
	// Conditional reports whether it carries If-None-Match or
	// If-Modified-Since.
	Conditional bool
	// Header is the request's header; read it, don't keep it.
	Header http.Header
}

// Issuer is an in-process OpenID Connect identity provider for tests: an
// httptest server on loopback serving a discovery document and a JWK Set,
// with one key per configured algorithm, and minting of valid and
// deliberately invalid tokens.
//
// Create it with NewIssuer (in a test) or Start; the zero value is not
// usable. Safe for concurrent use: faults can be changed while clients
// fetch.
type Issuer struct {
	opts    IssuerOptions
	now     func() time.Time
	srv     *httptest.Server // nil with IssuerOptions.URL
	handler http.Handler
	url     string
	closing chan struct{} // closed by Close, releases hanging handlers
	once    sync.Once     // guards Close

	mu           sync.Mutex // guards everything below
	keys         []*key     // published, newest first
	removed      []*key     // taken out by Remove, oldest first
	mirrors      []jwkset.Storage
	rsaCount     int
	kidSeq       int
	etagSeq      int
	etagNonce    string
	lastModified time.Time
	prevModified time.Time
	discovery    Behavior
	jwks         Behavior
	stats        Stats
}

// NewIssuer starts an Issuer for t and closes it in t.Cleanup. A bad option
// fails the test.
func NewIssuer(t TB, opts IssuerOptions) *Issuer {
	t.Helper()
	i, err := Start(opts)
	if err != nil {
		t.Fatalf("%v", err)
		return nil // a stand-in TB whose Fatalf returns
	}
	t.Cleanup(i.Close)
	return i
}

// Start validates opts, generates the keys and starts serving. The caller
// must Close the Issuer; tests use NewIssuer instead.
func Start(opts IssuerOptions) (*Issuer, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	if opts.URL != "" {
		i, err := newIssuer(opts)
		if err != nil {
			return nil, err
		}
		i.url = opts.URL
		return i, nil
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: listen on %s: %w", ErrOptions, opts.Addr, err)
	}
	i, err := newIssuer(opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	// Started last, after every error return, so a failed Start leaves no
	// goroutine behind.
	i.srv = httptest.NewUnstartedServer(i.Handler())
	i.srv.Listener.Close() // httptest's own listener may not be loopback-only (-httptest.serve)
	i.srv.Listener = ln
	// The URL is set before the server starts: handlers read it.
	i.url = "http://" + ln.Addr().String()
	if opts.TLS {
		i.url = "https://" + ln.Addr().String()
		i.srv.StartTLS()
	} else {
		i.srv.Start()
	}
	return i, nil
}

// newIssuer generates the keys of an issuer that serves nothing yet.
func newIssuer(opts IssuerOptions) (*Issuer, error) {
	i := &Issuer{opts: opts, now: opts.Now, closing: make(chan struct{}), etagNonce: randomHex(4)}
	for _, a := range opts.Algorithms {
		k, err := i.reserveLocked(a).build(opts.FreshKeys) // not shared yet: no lock needed
		if err != nil {
			return nil, err
		}
		i.keys = append(i.keys, k)
	}
	if err := i.changedLocked(); err != nil {
		return nil, err
	}
	i.handler = i.newHandler()
	return i, nil
}

func (o *IssuerOptions) normalize() error {
	if len(o.Algorithms) == 0 {
		o.Algorithms = SupportedAlgorithms()
	} else {
		o.Algorithms = slices.Clone(o.Algorithms)
	}
	for n, a := range o.Algorithms {
		if signingMethod(a) == nil {
			return fmt.Errorf("%w: unsupported algorithm %q (supported: %v)", ErrOptions, a, SupportedAlgorithms())
		}
		if slices.Contains(o.Algorithms[:n], a) {
			return fmt.Errorf("%w: algorithm %q listed twice", ErrOptions, a)
		}
	}
	if o.URL != "" {
		if o.Addr != "" || o.TLS {
			return fmt.Errorf("%w: URL %q is served by the caller; Addr and TLS must be unset", ErrOptions, o.URL)
		}
		u, err := url.Parse(o.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%w: URL %q is not an absolute http(s) URL", ErrOptions, o.URL)
		}
		o.URL = strings.TrimSuffix(o.URL, "/")
	} else {
		if o.Addr == "" {
			o.Addr = "127.0.0.1:0"
		}
		if err := checkLoopback(o.Addr); err != nil {
			return err
		}
	}
	for name := range o.Discovery {
		if name == "issuer" || name == "jwks_uri" {
			return fmt.Errorf("%w: Discovery cannot set %q", ErrOptions, name)
		}
	}
	o.Discovery = maps.Clone(o.Discovery)
	if o.Type == "" {
		o.Type = DefaultType
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.TokenTTL < 0 {
		return fmt.Errorf("%w: TokenTTL must not be negative", ErrOptions)
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// checkLoopback refuses any listen address that another machine could
// reach: "" and "0.0.0.0" (every interface), names other than localhost,
// non-loopback IPs.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: Addr %q: %w", ErrOptions, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: Addr %q is not a loopback address; the issuer mints any token asked for and must not be reachable from other hosts", ErrOptions, addr)
	}
	return nil
}

// Close stops the server, releasing requests held by a Hang fault first. It
// is idempotent. Tokens stay mintable after Close.
func (i *Issuer) Close() {
	i.once.Do(func() {
		close(i.closing)
		if i.srv != nil {
			i.srv.Close() // waits for every handler to return
		}
	})
}

// Issuer returns the issuer identifier: the server's URL (no trailing
// slash), the iss of minted tokens and the issuer of the discovery document.
func (i *Issuer) Issuer() string { return i.url }

// URL is the same as Issuer.
func (i *Issuer) URL() string { return i.url }

// JWKSURL returns the URL of the JWK Set.
func (i *Issuer) JWKSURL() string { return i.url + JWKSPath }

// DiscoveryURL returns the URL of the OIDC discovery document.
func (i *Issuer) DiscoveryURL() string { return i.url + DiscoveryPath }

// Algorithms returns the issuer's algorithms, the default first.
func (i *Issuer) Algorithms() []string { return slices.Clone(i.opts.Algorithms) }

// Client returns an HTTP client for the server (trusting its certificate
// with TLS); its idle connections are closed by Close. With
// IssuerOptions.URL, which starts no server, it is a client whose transport
// calls Handler in memory for every URL (no socket, so usable inside a
// testing/synctest bubble), and fails every request after Close.
func (i *Issuer) Client() *http.Client {
	if i.srv == nil {
		return &http.Client{Transport: memTransport{i}}
	}
	return i.srv.Client()
}

// TLSConfig returns a TLS client configuration trusting the server's
// certificate, or nil without IssuerOptions.TLS.
func (i *Issuer) TLSConfig() *tls.Config {
	if !i.opts.TLS || i.srv == nil {
		return nil
	}
	if tr, ok := i.srv.Client().Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		return tr.TLSClientConfig.Clone()
	}
	return nil
}
