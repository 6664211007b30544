package jwtgatetest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IntrospectionOptions configures an IntrospectionServer. The zero value
// is usable: no client authentication, time.Now, audience "api".
type IntrospectionOptions struct {
	// ClientID and ClientSecret, when both set, are required on every
	// request, by client_secret_basic or client_secret_post; a request
	// without them is answered 401 (RFC 7662 §2.1).
	ClientID, ClientSecret string
	// RequireAssertion requires a private_key_jwt client assertion
	// (client_assertion_type jwt-bearer, with the ClientID): its presence
	// and type only — the signature is the client's concern to test.
	RequireAssertion bool
	// Audience is the aud of tokens Issue makes when Claims sets none.
	// "": "api".
	Audience string
	// TokenTTL is how long tokens Issue makes live (exp) when Claims sets
	// no ExpiresAt. 0 means one hour.
	TokenTTL time.Duration
	// Now is the clock for exp and iat. Nil: time.Now.
	Now func() time.Time
}

// IntrospectionFault makes the endpoint misbehave, as Behavior does the
// identity provider.
type IntrospectionFault struct {
	// Status, when not 0, answers every request with it and a plain-text
	// body (500, 503, 401 …).
	Status int
	// Hang holds every request until its context ends or the server
	// closes; it never answers.
	Hang bool
	// Body, when not nil, is the answer to every request (status 200
	// unless Status says otherwise).
	Body []byte
	// Arrived, when not nil, gets a value as each request arrives (before
	// the fault applies), so a test knows a call is in flight without
	// polling; the send ends early when the request or the server ends.
	Arrived chan<- struct{}
}

// IntrospectionServer is an RFC 7662 introspection endpoint on loopback
// for tests of code that takes opaque tokens: tokens it issued are active
// until revoked or expired, any other token is inactive; faults and a
// request counter test what a client does when the endpoint fails. It also
// serves RFC 8414 metadata naming the endpoint, for discovery. Safe for
// concurrent use.
type IntrospectionServer struct {
	opts  IntrospectionOptions
	srv   *httptest.Server
	stop  chan struct{}
	once  sync.Once
	calls atomic.Int64

	mu      sync.Mutex
	answers map[string][]byte  // token → the answer's JSON; guarded by mu
	fault   IntrospectionFault // guarded by mu
	last    url.Values         // the last request's form; guarded by mu
}

// NewIntrospectionServer starts an IntrospectionServer and closes it in
// t.Cleanup.
func NewIntrospectionServer(t TB, opts IntrospectionOptions) *IntrospectionServer {
	t.Helper()
	s := StartIntrospection(opts)
	t.Cleanup(s.Close)
	return s
}

// StartIntrospection starts an IntrospectionServer; the caller Closes it.
func StartIntrospection(opts IntrospectionOptions) *IntrospectionServer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Audience == "" {
		opts.Audience = "api"
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	s := &IntrospectionServer{opts: opts, stop: make(chan struct{}), answers: map[string][]byte{}}
	s.srv = httptest.NewServer(s.Handler())
	return s
}

// URL returns the introspection endpoint's URL.
func (s *IntrospectionServer) URL() string { return s.srv.URL + "/introspect" }

// Issuer returns the server's issuer URL (its root), whose RFC 8414
// metadata names URL as introspection_endpoint.
func (s *IntrospectionServer) Issuer() string { return s.srv.URL }

// Issue makes a random opaque token and makes it active, its answer
// carrying c's claims (iss the server, sub, aud, scope, exp, iat, nbf, jti,
// and Extra last, as Mint does) plus "token_type":"Bearer".
func (s *IntrospectionServer) Issue(t TB, c Claims) string {
	t.Helper()
	tok := randomToken()
	now := s.opts.Now()
	m := map[string]any{"active": true, "iss": s.Issuer(), "sub": c.Subject, "token_type": "Bearer", "iat": now.Unix()}
	if c.Issuer != "" {
		m["iss"] = c.Issuer
	}
	if m["sub"] == "" {
		m["sub"] = DefaultSubject
	}
	switch {
	case c.Audiences != nil:
		m["aud"] = c.Audiences
	case c.Audience != "":
		m["aud"] = c.Audience
	default:
		m["aud"] = s.opts.Audience
	}
	if c.Scopes != nil {
		m["scope"] = strings.Join(c.Scopes, " ")
	}
	if c.ID != "" {
		m["jti"] = c.ID
	}
	if !c.IssuedAt.IsZero() {
		m["iat"] = c.IssuedAt.Unix()
	}
	if !c.NotBefore.IsZero() {
		m["nbf"] = c.NotBefore.Unix()
	}
	m["exp"] = now.Add(s.opts.TokenTTL).Unix()
	if !c.ExpiresAt.IsZero() {
		m["exp"] = c.ExpiresAt.Unix()
	}
	for k, v := range c.Extra {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("jwtgatetest: %v", err)
	}
	s.SetAnswer(tok, b)
	return tok
}

// SetAnswer makes the endpoint answer token with body exactly (any JSON,
// valid or not: {"active":"true"}, {"active":1}, …).
func (s *IntrospectionServer) SetAnswer(token string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[token] = append([]byte(nil), body...)
}

// Revoke makes token inactive from now on.
func (s *IntrospectionServer) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[token] = []byte(`{"active":false}`)
}

// SetFault makes every later request misbehave as f says; the zero
// IntrospectionFault ends the fault.
func (s *IntrospectionServer) SetFault(f IntrospectionFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Requests returns how many introspection requests arrived.
func (s *IntrospectionServer) Requests() int { return int(s.calls.Load()) }

// LastForm returns the last introspection request's form (token,
// token_type_hint, client credentials or assertion), for tests of client
// authentication.
func (s *IntrospectionServer) LastForm() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Close releases held requests and stops the server. Idempotent.
func (s *IntrospectionServer) Close() {
	s.once.Do(func() {
		close(s.stop)
		s.srv.Close()
	})
}

// Handler serves the endpoint (POST /introspect) and its metadata.
func (s *IntrospectionServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": s.Issuer(), "introspection_endpoint": s.URL()})
	})
	mux.HandleFunc("POST /introspect", s.introspect)
	return mux
}

func (s *IntrospectionServer) introspect(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	f := s.fault
	s.last = r.PostForm
	body, ok := s.answers[r.PostForm.Get("token")]
	s.mu.Unlock()
	if f.Arrived != nil {
		select {
		case f.Arrived <- struct{}{}:
		case <-r.Context().Done():
		case <-s.stop:
		}
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	}
	if f.Status != 0 && f.Body == nil {
		http.Error(w, http.StatusText(f.Status), f.Status)
		return
	}
	if !s.clientOK(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, "invalid_client", http.StatusUnauthorized)
		return
	}
	status := http.StatusOK
	if f.Status != 0 {
		status = f.Status
	}
	switch {
	case f.Body != nil:
		body = f.Body
	case !ok:
		body = []byte(`{"active":false}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *IntrospectionServer) clientOK(r *http.Request) bool {
	if s.opts.RequireAssertion {
		return r.PostForm.Get("client_id") == s.opts.ClientID &&
			r.PostForm.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" &&
			strings.Count(r.PostForm.Get("client_assertion"), ".") == 2
	}
	if s.opts.ClientID == "" || s.opts.ClientSecret == "" {
		return true
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) == 1
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "ot_" + base64.RawURLEncoding.EncodeToString(b[:])
}
