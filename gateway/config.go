package gateway

import (
	"crypto"
	"errors"
	"time"
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
	// Listen is the gateway's address. Empty means DefaultListen. A
	// reload cannot change it (ErrRestartRequired).
	Listen string `yaml:"listen"`
	// Issuer is the accepted `iss`. Without JWKSURL the JWK Set is found
	// from it by OIDC discovery. Empty with JWKSURL set means iss is not
	// checked (New logs a warning); empty with neither, and no Providers,
	// is an error.
	Issuer string `yaml:"issuer"`
	// JWKSURL is the JWK Set's URL. Empty means discovery from Issuer.
	JWKSURL string `yaml:"jwks_url"`
	// JWKSFile is a JWK Set on disk instead of a URL (a mounted Kubernetes
	// Secret, an air-gapped install): re-read every few seconds, a change
	// loaded with the rules of a fetched set, an unreadable or invalid
	// new file keeping the last good set (and /readyz saying so). Set it
	// or JWKSURL, not both. Empty means none.
	JWKSFile string `yaml:"jwks_file"`
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
	// Redis is where the Redis shared by every replica is: "host:port", a
	// redis:// or rediss:// URL, or a mapping for a Cluster or Sentinel
	// (see RedisConfig). When set, rate limits, budgets and (with dpop
	// replay: redis) the DPoP replay store are shared by every replica
	// using it. Empty means in-process limits and budgets.
	Redis RedisConfig `yaml:"redis"`
	// Replicas is how many gateway replicas share the Redis limits: while
	// Redis is down each one limits to its share (1/Replicas), so an outage
	// does not multiply the shared limit by the replica count. 0 means 1.
	Replicas int `yaml:"replicas"`
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// once Serve's ctx ends (SIGINT/SIGTERM for the program). 0 means 15s.
	// A reload cannot change it (ErrRestartRequired).
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
	// TLS serves the listener over HTTPS (HTTP/2 and HTTP/1.1), with the
	// certificate read again from its files when they change, and client
	// certificates when asked (see TLSConfig). nil means plain HTTP. A
	// reload cannot change it (ErrRestartRequired); the files it names are
	// re-read when they change.
	TLS *TLSConfig `yaml:"tls"`
	// InternalTokens is the gateway's own signing identity, for routes
	// whose upstream_auth signs internal tokens (sign): its keys, and the
	// issuer under which it publishes them (see InternalTokens). nil means
	// the gateway signs nothing and publishes no keys.
	InternalTokens *InternalTokens `yaml:"internal_tokens"`
	// Credentials is the order in which routes that set none try
	// credential kinds: jwt, introspection (needs introspection below),
	// api_key (needs api_keys below). The first kind that recognises the
	// request's credential decides; a credential it refuses is not tried
	// as another. Empty means jwt only.
	Credentials []string `yaml:"credentials"`
	// Introspection checks opaque tokens at the top-level issuer's
	// authorization server (RFC 7662; see Introspection; providers may
	// have their own). nil means none.
	Introspection *Introspection `yaml:"introspection"`
	// APIKeys holds the API keys routes may take (see APIKeys). nil means
	// none.
	APIKeys *APIKeys `yaml:"api_keys"`
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
	// JWKSFile is a JWK Set on disk instead of a URL (as Config.JWKSFile).
	// Empty means none.
	JWKSFile string `yaml:"jwks_file"`
	// Introspection checks this provider's opaque tokens (RFC 7662; see
	// Introspection; its issuer is the provider's). nil means none.
	Introspection *Introspection `yaml:"introspection"`
}

// Route sends requests under a path prefix to one upstream, with its own
// requirements.
type Route struct {
	// Prefix is the path prefix, starting with "/". "/api" matches "/api"
	// and "/api/…" but not "/apiary". Required.
	Prefix string `yaml:"prefix"`
	// Credentials is the route's credential order (jwt, introspection,
	// api_key; see Config.Credentials). Empty means the top-level
	// credentials.
	Credentials []string `yaml:"credentials"`
	// IntrospectionIssuer binds the route's introspection to the endpoint
	// of this issuer (the top-level introspection's, or a provider's):
	// answers from any other endpoint never count here. Empty means the
	// only introspection configured.
	IntrospectionIssuer string `yaml:"introspection_issuer"`
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
// stead: one static key from the environment (Env), a per-user token
// exchanged for the client's verified token (Exchange), or a short-lived
// JWT the gateway signs from the verified claims (Sign). Set exactly one.
// With Exchange or Sign the client's token (and DPoP proof) never reaches
// the upstream, whatever drop_authorization says.
type UpstreamAuth struct {
	// Header is the header to set. Empty means Authorization.
	Header string `yaml:"header"`
	// Scheme is prepended with a space ("Bearer"). Empty means Bearer when
	// Header is Authorization, and nothing otherwise.
	Scheme string `yaml:"scheme"`
	// Env is the environment variable holding a static credential (read
	// at start; unset or empty is an error). Empty means Exchange or Sign.
	Env string `yaml:"env"`
	// Exchange trades each request's verified token for the upstream's
	// own at an OAuth token endpoint (see UpstreamExchange). nil means no
	// exchange.
	Exchange *UpstreamExchange `yaml:"exchange"`
	// Sign sends a JWT the gateway signs with internal_tokens' key (see
	// UpstreamSign). nil means none.
	Sign *UpstreamSign `yaml:"sign"`

	value string // the credential, read by Validate
}

// UpstreamExchange is a token exchange for a route's upstream (package
// exchange): RFC 8693 token exchange or RFC 7523 jwt-bearer, with the
// client's verified token as the subject. Exchanged tokens are cached by
// subject token, audience and scope until their expires_in, never past
// the subject token's exp; when the token endpoint fails (5xx, time-out,
// bad answer, breaker open) the request is answered 503 with Retry-After
// and the upstream sees nothing. Secrets come from the environment or a
// file, never from this file.
type UpstreamExchange struct {
	// TokenEndpoint is the token endpoint's URL (https; http only on
	// loopback). Empty means the one the issuer's metadata names.
	TokenEndpoint string `yaml:"token_endpoint"`
	// Issuer is the authorization server's issuer identifier: without
	// token_endpoint, its metadata (RFC 8414, then OpenID discovery)
	// names the token endpoint, fetched on the first exchange; either way
	// it is the private_key_jwt assertion's aud. Empty means token_endpoint
	// alone. Set it, token_endpoint, or both.
	Issuer string `yaml:"issuer"`
	// Grant is token-exchange (RFC 8693) or jwt-bearer (RFC 7523, the
	// verified token as the assertion). Empty means token-exchange.
	Grant string `yaml:"grant"`
	// Audience is the upstream's logical name, sent as audience. Set it,
	// Resource or both.
	Audience string `yaml:"audience"`
	// Resource is the upstream's URI, sent as resource (RFC 8707).
	Resource string `yaml:"resource"`
	// Scopes are sent as scope. Empty means none.
	Scopes []string `yaml:"scopes"`
	// SubjectTokenType is the subject_token_type. Empty means
	// urn:ietf:params:oauth:token-type:access_token.
	SubjectTokenType string `yaml:"subject_token_type"`
	// RequestedTokenType is sent as requested_token_type. Empty means none.
	RequestedTokenType string `yaml:"requested_token_type"`
	// ClientAuth is how the gateway authenticates: client_secret_basic,
	// client_secret_post, private_key_jwt or none. Empty means
	// client_secret_basic when a secret is given, private_key_jwt when a
	// key is, none otherwise.
	ClientAuth string `yaml:"client_auth"`
	// ClientID is the gateway's client_id. Required unless client_auth is
	// none.
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv is the environment variable holding the client
	// secret. Empty means ClientSecretFile, or no secret.
	ClientSecretEnv string `yaml:"client_secret_env"`
	// ClientSecretFile is a file holding the client secret (a mounted
	// Secret; trailing line breaks are dropped). Empty means none.
	ClientSecretFile string `yaml:"client_secret_file"`
	// PrivateKeyFile is the PEM private key of private_key_jwt (RSA of
	// 2048 bits or more, ECDSA P-256, P-384 or P-521, or Ed25519). Empty
	// means none.
	PrivateKeyFile string `yaml:"private_key_file"`
	// KeyID is the kid of private_key_jwt assertions. Empty means none.
	KeyID string `yaml:"key_id"`
	// AssertionAudience is the private_key_jwt assertion's aud: issuer
	// (the issuer identifier, RFC 10070; the token endpoint URL when no
	// issuer is set) or endpoint (the token endpoint URL, for servers that
	// accept only that). Empty means issuer.
	AssertionAudience string `yaml:"assertion_audience"`
	// Binding decides DPoP- or certificate-bound client tokens: refuse
	// (401 invalid_token, the default) or verified_at_edge (exchange it:
	// the gateway checked the proof or certificate on the request itself,
	// and the exchanged token is a bearer token for the hop behind it).
	Binding string `yaml:"binding"`
	// Timeout bounds one call to the token endpoint. 0 means 10s.
	Timeout time.Duration `yaml:"timeout"`

	secret string        // the client secret, read by Validate
	key    crypto.Signer // the private_key_jwt key, read by Validate
}

// UpstreamSign is an internal token for a route's upstream (package
// internaltoken): a JWT signed with internal_tokens' newest key, iss
// internal_tokens' issuer, aud Audience, the listed claims copied from
// the verified token as they are, and exp TTL from now, never past the
// verified token's.
type UpstreamSign struct {
	// Claims are the verified token's claims copied (when present). iss,
	// aud, exp, iat, nbf and jti are the gateway's own, and cnf cannot be
	// copied. Empty means [sub].
	Claims []string `yaml:"claims"`
	// TTL is the token's lifetime. 0 means 1m; at most 1h.
	TTL time.Duration `yaml:"ttl"`
	// Audience is the token's aud: the upstream service. Required.
	Audience string `yaml:"audience"`
}

// InternalTokens is the gateway's signing identity (internal_tokens:).
// The gateway publishes its JWK Set and a discovery document on its own
// listener at Issuer's path + /.well-known/jwks.json and
// /.well-known/openid-configuration, so that a service behind it verifies
// internal tokens with jwtgate (issuer: the same Issuer).
type InternalTokens struct {
	// Issuer is the iss of internal tokens: the gateway's URL as the
	// services behind it reach it. Required.
	Issuer string `yaml:"issuer"`
	// KeyFiles are PEM private keys (ECDSA P-256: ES256, or Ed25519:
	// EdDSA); the last one signs, all are published. Set it or KeyDir.
	KeyFiles []string `yaml:"key_files"`
	// KeyDir is a directory of such key files: the one whose name sorts
	// last signs (name them by date), all are published, and one that is
	// removed stays published until the last token it signed has
	// expired. The files are looked at again every few seconds. Set it or
	// KeyFiles.
	KeyDir string `yaml:"key_dir"`
}

// Client certificate policies (TLSConfig.ClientAuth).
const (
	// ClientAuthNone asks for no client certificate.
	ClientAuthNone = "none"
	// ClientAuthRequest asks for a client certificate and verifies one
	// that is sent against ClientCAFile; a client may send none (its
	// requests then carry no certificate: certificate-bound tokens are
	// refused, bearer tokens pass as before).
	ClientAuthRequest = "request"
	// ClientAuthRequire refuses the TLS handshake of a client that sends
	// no certificate, or one that does not chain to ClientCAFile.
	ClientAuthRequire = "require"
)

// TLSConfig is the tls: section: the gateway's listener speaks HTTPS, with
// HTTP/2 offered (ALPN h2, then http/1.1), TLS 1.2 at least and only
// forward-secret AEAD cipher suites under TLS 1.2 (TLS 1.3's are all
// such). File paths are relative to the working directory. Validate reads
// every file once and reports what is wrong with it; the listener then
// checks the files again at most once a second, on a handshake, and loads
// those whose modification time, size or identity (a replaced file, a
// Kubernetes Secret's swapped link) changed: no restart for a renewed
// certificate or CA bundle. A changed file that does not load (half
// written, a key that does not match) is logged and counted, and the last
// good one stays in use.
type TLSConfig struct {
	// CertFile is the PEM certificate chain, leaf first. Required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile's leaf (PKCS #8, PKCS #1
	// or SEC 1). Required.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile is the PEM bundle of the CAs client certificates must
	// chain to (with the clientAuth extended key usage). Required with
	// ClientAuth request or require; an error otherwise.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is none (ClientAuthNone), request (ClientAuthRequest:
	// a certificate that is sent must verify, none is let in) or require
	// (ClientAuthRequire: no verified certificate, no connection). Empty
	// means none. A verified client certificate
	// is what certificate_bound_tokens compares a token's cnf["x5t#S256"]
	// with (RFC 8705).
	ClientAuth string `yaml:"client_auth"`
}
