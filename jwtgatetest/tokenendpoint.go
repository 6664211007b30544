package jwtgatetest

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenPath is where a TokenEndpoint answers token requests.
const TokenPath = "/token"

// Grant types a TokenEndpoint accepts (TokenRequest.Grant).
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// maxIssued bounds what a TokenEndpoint remembers (issued tokens and
// requests): a long test must not grow it without end.
const maxIssued = 10_000

// TokenEndpointOptions configures a TokenEndpoint. The zero value is
// usable: any client, opaque tokens, expires_in 300.
type TokenEndpointOptions struct {
	// ClientID, when set, requires client authentication: this client_id
	// with ClientSecret (client_secret_basic or client_secret_post), or
	// with a private_key_jwt assertion signed by ClientKey. "": any
	// client, authenticated or not.
	ClientID string
	// ClientSecret is the secret of the two client_secret methods. "":
	// they are refused.
	ClientSecret string
	// ClientKey verifies private_key_jwt assertions (iss and sub
	// ClientID, aud one of AssertionAudiences, exp in the future). nil:
	// private_key_jwt is refused.
	ClientKey crypto.PublicKey
	// AssertionAudiences are the aud values a private_key_jwt assertion
	// is accepted with (one of them must be there). nil: the endpoint's
	// issuer (RFC 10070) and its token endpoint URL (what servers before
	// it want).
	AssertionAudiences []string
	// Issuer, when set, mints the issued tokens: JWTs with the subject
	// token's sub, aud the request's audience (else its resource), its
	// scope, and exp at ExpiresIn. nil: opaque random tokens.
	Issuer *Issuer
	// ExpiresIn is the issued tokens' expires_in. 0: 300s; negative: no
	// expires_in is sent.
	ExpiresIn time.Duration
	// Now is the clock of assertion and subject token exp checks and of
	// minted exp. nil: time.Now.
	Now func() time.Time
}

// TokenBehavior is how the token endpoint answers; set it with
// SetBehavior at any time. The zero value answers normally. The fields
// apply in order: Hang, Delay, then Status, then Body.
type TokenBehavior struct {
	// Hang holds every request until its client gives up or the endpoint
	// is closed.
	Hang bool
	// Delay waits this long (real time) before answering.
	Delay time.Duration
	// Status, when not 0, answers with it and an OAuth error body
	// ({"error":"server_error"} for 5xx, invalid_grant for 4xx) instead of
	// a token. A 2xx serves the token with that status.
	Status int
	// Body, when not nil, is served instead of the answer, with status
	// 200 unless Status says otherwise: bad JSON, a token response of your
	// own.
	Body []byte
}

// TokenStats counts token requests as they arrive, before any fault.
type TokenStats struct {
	// Requests counts every POST to TokenPath.
	Requests int
	// TokenExchange and JWTBearer count them by grant_type.
	TokenExchange, JWTBearer int
	// Issued counts tokens issued; Refused counts 4xx answers the
	// endpoint chose (bad client, bad grant), not faults.
	Issued, Refused int
	// Discovery counts requests for the discovery document.
	Discovery int
}

// TokenRequest is what one token request asked for, as the endpoint
// understood it.
type TokenRequest struct {
	// Grant is the grant_type.
	Grant string
	// Subject is the sub of the subject token (token-exchange) or the
	// assertion (jwt-bearer); "" when it had none.
	Subject string
	// SubjectSHA256 is the hex SHA-256 of the subject token: the token
	// itself is not kept.
	SubjectSHA256 string
	// SubjectTokenType is subject_token_type.
	SubjectTokenType string
	// Audience, Resource and Scope are the request's parameters.
	Audience, Resource, Scope string
	// ClientAuth is how the client authenticated: client_secret_basic,
	// client_secret_post, private_key_jwt or none.
	ClientAuth string
	// AssertionAudience is the aud of a private_key_jwt assertion
	// (space-separated when an array), as sent; "" for other methods.
	AssertionAudience string
}

// TokenEndpoint is an OAuth token endpoint for tests of token exchange: it
// answers RFC 8693 token exchange and RFC 7523 jwt-bearer grants for any
// subject token whose sub it can read (it does not verify the subject
// token: that is the gateway's job, and the test's), with faults and
// counters. It also serves a discovery document naming TokenPath as
// token_endpoint at its URL. Create it with NewTokenEndpoint or
// StartTokenEndpoint; safe for concurrent use.
type TokenEndpoint struct {
	opts    TokenEndpointOptions
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex // guards everything below
	behavior TokenBehavior
	stats    TokenStats
	issued   map[string]string // issued token → subject
	requests []TokenRequest
}

// NewTokenEndpoint starts a TokenEndpoint on loopback and closes it in
// t.Cleanup.
func NewTokenEndpoint(t TB, opts TokenEndpointOptions) *TokenEndpoint {
	t.Helper()
	e, err := StartTokenEndpoint(opts)
	if err != nil {
		t.Fatalf("%v", err)
		return nil
	}
	t.Cleanup(e.Close)
	return e
}

// StartTokenEndpoint starts a TokenEndpoint on a free loopback port; the
// caller closes it.
func StartTokenEndpoint(opts TokenEndpointOptions) (*TokenEndpoint, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ExpiresIn == 0 {
		opts.ExpiresIn = 300 * time.Second
	}
	e := &TokenEndpoint{opts: opts, closing: make(chan struct{}), issued: make(map[string]string)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, e.serveToken)
	mux.HandleFunc("GET "+DiscoveryPath, e.serveDiscovery)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("jwtgatetest: token endpoint: %w", err)
	}
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.Listener.Close()
	e.srv.Listener = l
	e.srv.Start()
	return e, nil
}

// Close releases hanging requests and stops the server.
func (e *TokenEndpoint) Close() {
	e.once.Do(func() {
		close(e.closing)
		e.srv.Close()
	})
}

// URL is the token endpoint's URL (its issuer URL + TokenPath).
func (e *TokenEndpoint) URL() string { return e.srv.URL + TokenPath }

// Issuer is the URL whose discovery document names URL as token_endpoint.
func (e *TokenEndpoint) Issuer() string { return e.srv.URL }

// SetBehavior sets how the endpoint answers from the next request on.
func (e *TokenEndpoint) SetBehavior(b TokenBehavior) error {
	switch {
	case b.Delay < 0:
		return fmt.Errorf("jwtgatetest: TokenBehavior.Delay must not be negative")
	case b.Status != 0 && (b.Status < 200 || b.Status > 599):
		return fmt.Errorf("jwtgatetest: TokenBehavior.Status %d is not a final HTTP status", b.Status)
	}
	if b.Body != nil {
		b.Body = append([]byte(nil), b.Body...)
	}
	e.mu.Lock()
	e.behavior = b
	e.mu.Unlock()
	return nil
}

// Stats returns the counters.
func (e *TokenEndpoint) Stats() TokenStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Requests returns the token requests answered with a token (the last
// 10000), in order.
func (e *TokenEndpoint) Requests() []TokenRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]TokenRequest(nil), e.requests...)
}

// SubjectOf returns the subject a token the endpoint issued was issued
// for: how an upstream in a test learns whom a request acts for.
func (e *TokenEndpoint) SubjectOf(token string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.issued[token]
	return s, ok
}

func (e *TokenEndpoint) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.stats.Discovery++
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                e.srv.URL,
		"token_endpoint":                        e.URL(),
		"grant_types_supported":                 []string{GrantTokenExchange, GrantJWTBearer},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
	})
}

func (e *TokenEndpoint) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	err := r.ParseForm()
	e.mu.Lock()
	e.stats.Requests++
	switch r.PostForm.Get("grant_type") {
	case GrantTokenExchange:
		e.stats.TokenExchange++
	case GrantJWTBearer:
		e.stats.JWTBearer++
	}
	b := e.behavior
	e.mu.Unlock()
	if !wait(w, r, b.Hang, b.Delay, e.closing) {
		return
	}
	if b.Status != 0 && (b.Status < 200 || b.Status > 299) {
		code := "invalid_grant"
		if b.Status >= 500 {
			code = "server_error"
		}
		oauthError(w, b.Status, code, "jwtgatetest: fault")
		return
	}
	if b.Body != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(max(b.Status, http.StatusOK))
		_, _ = w.Write(b.Body)
		return
	}
	if err != nil {
		e.refuse(w, http.StatusBadRequest, "invalid_request", "form: "+err.Error())
		return
	}
	tr, status, code, desc := e.read(r)
	if code != "" {
		e.refuse(w, status, code, desc)
		return
	}
	e.issue(w, tr, max(b.Status, http.StatusOK))
}

// read checks the client and the grant.
func (e *TokenEndpoint) read(r *http.Request) (tr TokenRequest, status int, code, desc string) {
	f := r.PostForm
	tr = TokenRequest{Grant: f.Get("grant_type"), Audience: f.Get("audience"), Resource: f.Get("resource"),
		Scope: f.Get("scope"), SubjectTokenType: f.Get("subject_token_type")}
	if a, err := unverifiedClaims(f.Get("client_assertion")); err == nil {
		aud, _ := jwt.MapClaims(a).GetAudience()
		tr.AssertionAudience = strings.Join(aud, " ")
	}
	var ok bool
	if tr.ClientAuth, ok = e.client(r); !ok {
		return tr, http.StatusUnauthorized, "invalid_client", "client authentication failed"
	}
	var subject string
	switch tr.Grant {
	case GrantTokenExchange:
		subject = f.Get("subject_token")
		if subject == "" || tr.SubjectTokenType == "" {
			return tr, http.StatusBadRequest, "invalid_request", "subject_token and subject_token_type are required"
		}
	case GrantJWTBearer:
		subject = f.Get("assertion")
		if subject == "" {
			return tr, http.StatusBadRequest, "invalid_request", "assertion is required"
		}
	default:
		return tr, http.StatusBadRequest, "unsupported_grant_type", "grant_type not supported"
	}
	sum := sha256.Sum256([]byte(subject))
	tr.SubjectSHA256 = hex.EncodeToString(sum[:])
	claims, err := unverifiedClaims(subject)
	if err != nil {
		return tr, http.StatusBadRequest, "invalid_grant", "subject token is not a JWT"
	}
	tr.Subject, _ = claims["sub"].(string)
	if exp, ok := claims["exp"].(float64); ok && !e.opts.Now().Before(time.Unix(int64(exp), 0)) {
		return tr, http.StatusBadRequest, "invalid_grant", "subject token expired"
	}
	return tr, 0, "", ""
}

// client returns the client authentication method used, and whether it
// is accepted.
func (e *TokenEndpoint) client(r *http.Request) (string, bool) {
	f := r.PostForm
	id, secret, basic := r.BasicAuth()
	switch {
	case basic:
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		return "client_secret_basic", e.opts.ClientID == "" || e.secretOK(id, secret)
	case f.Has("client_secret"):
		return "client_secret_post", e.opts.ClientID == "" || e.secretOK(f.Get("client_id"), f.Get("client_secret"))
	case f.Has("client_assertion"):
		return "private_key_jwt", e.opts.ClientID == "" || e.assertionOK(r, f.Get("client_assertion_type"), f.Get("client_assertion"))
	}
	return "none", e.opts.ClientID == ""
}

func (e *TokenEndpoint) secretOK(id, secret string) bool {
	return e.opts.ClientSecret != "" && id == e.opts.ClientID && secret == e.opts.ClientSecret
}

func (e *TokenEndpoint) assertionOK(r *http.Request, typ, assertion string) bool {
	if e.opts.ClientKey == nil || typ != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return false
	}
	var claims jwt.MapClaims
	_, err := jwt.ParseWithClaims(assertion, &claims, func(*jwt.Token) (any, error) { return e.opts.ClientKey, nil },
		jwt.WithValidMethods([]string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256"}),
		jwt.WithIssuer(e.opts.ClientID), jwt.WithSubject(e.opts.ClientID),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(e.opts.Now))
	if err != nil {
		return false
	}
	accepted := e.opts.AssertionAudiences
	if accepted == nil {
		accepted = []string{e.Issuer(), e.URL()}
	}
	aud, _ := claims.GetAudience()
	for _, a := range aud {
		if slices.Contains(accepted, a) {
			return true
		}
	}
	return false
}

func (e *TokenEndpoint) issue(w http.ResponseWriter, tr TokenRequest, status int) {
	var tok string
	if e.opts.Issuer != nil {
		aud := tr.Audience
		if aud == "" {
			aud = tr.Resource
		}
		c := Claims{Subject: tr.Subject, Audience: aud}
		if tr.Scope != "" {
			c.Scopes = strings.Fields(tr.Scope)
		}
		if e.opts.ExpiresIn > 0 {
			c.ExpiresAt = e.opts.Now().Add(e.opts.ExpiresIn)
		}
		var err error
		if tok, err = e.opts.Issuer.Sign(c, MintOptions{}); err != nil {
			oauthError(w, http.StatusInternalServerError, "server_error", "minting: "+err.Error())
			return
		}
	} else {
		var b [24]byte
		_, _ = rand.Read(b[:])
		tok = "xt." + base64.RawURLEncoding.EncodeToString(b[:])
	}
	e.mu.Lock()
	e.stats.Issued++
	if len(e.issued) >= maxIssued {
		clear(e.issued)
	}
	e.issued[tok] = tr.Subject
	e.record(tr)
	e.mu.Unlock()
	resp := map[string]any{"access_token": tok, "token_type": "Bearer",
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}
	if e.opts.ExpiresIn > 0 {
		resp["expires_in"] = int64(e.opts.ExpiresIn / time.Second)
	}
	if tr.Scope != "" {
		resp["scope"] = tr.Scope
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

func (e *TokenEndpoint) refuse(w http.ResponseWriter, status int, code, desc string) {
	e.mu.Lock()
	e.stats.Refused++
	e.mu.Unlock()
	oauthError(w, status, code, desc)
}

// record keeps tr; e.mu is held.
func (e *TokenEndpoint) record(tr TokenRequest) {
	if len(e.requests) >= maxIssued {
		e.requests = e.requests[1:]
	}
	e.requests = append(e.requests, tr)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// unverifiedClaims decodes a compact JWS's payload without checking it.
func unverifiedClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}
