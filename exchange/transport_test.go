package exchange_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/exchange"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestTwoUsersReachUpstreamAsTwoPrincipals(t *testing.T) {
	r := newRig(t, jwtgatetest.TokenEndpointOptions{}, nil)
	alice := r.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	bob := r.idp.Mint(t, jwtgatetest.Claims{Subject: "bob", Audience: "api"})
	for _, tok := range []string{alice, bob, alice, bob} {
		if resp := r.get(t, tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
	}
	got := r.up.requests()
	if len(got) != 4 {
		t.Fatalf("upstream got %d requests, want 4", len(got))
	}
	var subjects []string
	for _, req := range got {
		s, ok := r.te.SubjectOf(bearer(req))
		if !ok {
			t.Fatalf("upstream got a token the endpoint did not issue: %q", req.Header.Get("Authorization"))
		}
		subjects = append(subjects, s)
	}
	if strings.Join(subjects, ",") != "alice,bob,alice,bob" {
		t.Fatalf("upstream principals %v, want alice,bob,alice,bob", subjects)
	}
	if bearer(got[0]) == bearer(got[1]) {
		t.Fatal("two users got one upstream token")
	}
	if st := r.te.Stats(); st.Issued != 2 || st.TokenExchange != 2 {
		t.Fatalf("token endpoint stats %+v, want 2 exchanges (one per user, then cached)", st)
	}
	for _, tr := range r.te.Requests() {
		if tr.Audience != "orders" || tr.Scope != "orders:read" || tr.SubjectTokenType != exchange.TokenTypeAccessToken {
			t.Fatalf("token request %+v: want audience orders, scope orders:read, access_token type", tr)
		}
	}
}

func TestCachedExchangeIsReusedAndExpiresWithTheSubjectToken(t *testing.T) {
	// The upstream token lives an hour, the subject token two minutes:
	// the subject token's exp ends the cache entry.
	r := newRig(t, jwtgatetest.TokenEndpointOptions{ExpiresIn: time.Hour}, nil)
	exp := r.clock.Now().Add(2 * time.Minute)
	tok := r.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api", ExpiresAt: exp})
	if resp := r.get(t, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("first: status %d", resp.StatusCode)
	}
	r.clock.Advance(time.Minute)
	if resp := r.get(t, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("second: status %d", resp.StatusCode)
	}
	if n := r.te.Stats().Requests; n != 1 {
		t.Fatalf("token endpoint called %d times before exp, want 1 (the cached token reused)", n)
	}
	got := r.up.requests()
	if bearer(got[0]) != bearer(got[1]) {
		t.Fatal("the second request did not reuse the exchanged token")
	}
	// Past exp, within the Verifier's leeway: the Verifier still lets the
	// token in, the cache does not hand out its exchange any more, and the
	// token endpoint refuses an expired subject token.
	r.clock.Set(exp.Add(5 * time.Second))
	resp := r.get(t, tok)
	if n := r.te.Stats().Requests; n != 2 {
		t.Fatalf("token endpoint called %d times after exp, want 2 (the entry ended with the subject token)", n)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d after the subject token expired, want 403 (exchange refused)", resp.StatusCode)
	}
	if n := len(r.up.requests()); n != 2 {
		t.Fatalf("upstream saw %d requests, want 2", n)
	}
}

func TestCachedExchangeEndsAtExpiresIn(t *testing.T) {
	r := newRig(t, jwtgatetest.TokenEndpointOptions{ExpiresIn: time.Minute}, nil)
	tok := r.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api", ExpiresAt: r.clock.Now().Add(time.Hour)})
	r.get(t, tok)
	// expires_in 60 less the 10s margin: kept 50s.
	r.clock.Advance(49 * time.Second)
	r.get(t, tok)
	if n := r.te.Stats().Requests; n != 1 {
		t.Fatalf("token endpoint called %d times within expires_in, want 1", n)
	}
	r.clock.Advance(2 * time.Second)
	if resp := r.get(t, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := r.te.Stats().Requests; n != 2 {
		t.Fatalf("token endpoint called %d times after expires_in, want 2", n)
	}
}

func TestTokenEndpointFailureIs503AndUpstreamSeesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    jwtgatetest.TokenBehavior
	}{
		{"5xx", jwtgatetest.TokenBehavior{Status: http.StatusInternalServerError}},
		{"503", jwtgatetest.TokenBehavior{Status: http.StatusServiceUnavailable}},
		{"429", jwtgatetest.TokenBehavior{Status: http.StatusTooManyRequests}},
		{"time-out", jwtgatetest.TokenBehavior{Hang: true}},
		{"bad JSON", jwtgatetest.TokenBehavior{Body: []byte(`{"access_token": `)}},
		{"no token type", jwtgatetest.TokenBehavior{Body: []byte(`{"access_token":"x"}`)}},
		{"DPoP token type", jwtgatetest.TokenBehavior{Body: []byte(`{"access_token":"x","token_type":"DPoP"}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events []exchange.Event
			r := newRig(t, jwtgatetest.TokenEndpointOptions{}, func(c *exchange.Config) {
				c.Timeout = 100 * time.Millisecond // the Hang case waits this long
				c.RetryAfter = 7 * time.Second
				c.OnExchange = func(ev exchange.Event) { events = append(events, ev) }
			})
			if err := r.te.SetBehavior(tc.b); err != nil {
				t.Fatal(err)
			}
			tok := r.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
			resp := r.get(t, tok)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
				t.Fatalf("status %d, Retry-After %q; want 503, 7", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if n := len(r.up.requests()); n != 0 {
				t.Fatalf("upstream saw %d requests, want none", n)
			}
			if len(events) != 1 || !errors.Is(events[0].Err, exchange.ErrUnavailable) {
				t.Fatalf("events %+v, want one ErrUnavailable", events)
			}
			if strings.Contains(r.logs.String(), tok) {
				t.Fatal("the subject token is in the logs")
			}
		})
	}
}

func TestRefusedExchangeIs403(t *testing.T) {
	r := newRig(t, jwtgatetest.TokenEndpointOptions{}, nil)
	if err := r.te.SetBehavior(jwtgatetest.TokenBehavior{Status: http.StatusBadRequest}); err != nil {
		t.Fatal(err)
	}
	resp := r.get(t, r.idp.Mint(t, jwtgatetest.Claims{Audience: "api"}))
	if resp.StatusCode != http.StatusForbidden || len(r.up.requests()) != 0 {
		t.Fatalf("status %d, upstream %d requests; want 403, none", resp.StatusCode, len(r.up.requests()))
	}
}

func TestBreakerOpensAfterFailures(t *testing.T) {
	r := newRig(t, jwtgatetest.TokenEndpointOptions{}, func(c *exchange.Config) { c.BreakerFailures = 2 })
	if err := r.te.SetBehavior(jwtgatetest.TokenBehavior{Status: http.StatusBadGateway}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		tok := r.idp.Mint(t, jwtgatetest.Claims{Audience: "api"})
		if resp := r.get(t, tok); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("request %d: status %d, want 503", i, resp.StatusCode)
		}
	}
	if n := r.te.Stats().Requests; n != 2 {
		t.Fatalf("token endpoint called %d times, want 2 (then the breaker answers)", n)
	}
}

func TestSubjectTokenNeverUpstreamOrInLogs(t *testing.T) {
	r := newRig(t, jwtgatetest.TokenEndpointOptions{}, nil)
	tok := r.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	req, _ := http.NewRequest(http.MethodGet, r.proxy.URL+"/orders?token="+tok+"&keep=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Copy", "Bearer "+tok)
	req.Header.Set("DPoP", "some-proof")
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := r.up.requests()[0]
	for name, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, tok) {
				t.Fatalf("upstream header %s carries the subject token", name)
			}
		}
	}
	if strings.Contains(got.URL.String(), tok) {
		t.Fatal("upstream URL carries the subject token")
	}
	if got.URL.Query().Get("keep") != "1" {
		t.Fatalf("upstream query %q lost an unrelated parameter", got.URL.RawQuery)
	}
	if got.Header.Get("DPoP") != "" {
		t.Fatal("upstream got the client's DPoP proof")
	}
	if _, ok := r.te.SubjectOf(bearer(got)); !ok {
		t.Fatal("upstream did not get the exchanged token")
	}
	if strings.Contains(r.logs.String(), tok) {
		t.Fatal("the subject token is in the logs")
	}
}

func TestNoVerifiedClaimsIs401(t *testing.T) {
	tr, err := exchange.New(exchange.Config{TokenEndpoint: "https://as.example/token", Audience: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// A raw Authorization header is not a verified token: never read.
	req, _ := http.NewRequest(http.MethodGet, "http://upstream.example/", nil)
	req.Header.Set("Authorization", "Bearer a.b.c")
	_, err = tr.RoundTrip(req)
	if !errors.Is(err, exchange.ErrNoSubjectToken) || !errors.Is(err, exchange.ErrExchange) || exchange.Status(err) != http.StatusUnauthorized {
		t.Fatalf("err %v (status %d), want ErrNoSubjectToken, 401", err, exchange.Status(err))
	}
}

func TestSenderConstrainedSubjectNeedsABinding(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{})
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}, AllowSenderConstrained: true})
	if err != nil {
		t.Fatal(err)
	}
	tok := idp.Mint(t, jwtgatetest.Claims{Extra: map[string]any{"cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}})
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	ctx := middleware.ContextWithClaims(context.Background(), c)
	for _, tc := range []struct {
		binding exchange.Binding
		want    error
	}{
		{exchange.BindingRefuse, exchange.ErrSenderConstrained},
		{exchange.BindingVerifiedAtEdge, nil},
	} {
		tr, err := exchange.New(exchange.Config{TokenEndpoint: te.URL(), Audience: "orders", Binding: tc.binding})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.Token(ctx)
		tr.Close()
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Fatalf("binding %v: err %v, want %v", tc.binding, err, tc.want)
		}
		if tc.want != nil && exchange.Status(err) != http.StatusUnauthorized {
			t.Fatalf("binding %v: status %d, want 401", tc.binding, exchange.Status(err))
		}
	}
	if n := te.Stats().Requests; n != 1 {
		t.Fatalf("token endpoint called %d times, want 1 (refuse never calls it)", n)
	}
}

func TestClientAuthentication(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	opts := jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "s3cr:et", ClientKey: &key.PublicKey}
	for _, tc := range []struct {
		name   string
		client exchange.ClientAuth
		method string
		status int
	}{
		{"basic", exchange.ClientAuth{Method: exchange.AuthClientSecretBasic, ClientID: "gw", ClientSecret: "s3cr:et"}, "client_secret_basic", 200},
		{"post", exchange.ClientAuth{Method: exchange.AuthClientSecretPost, ClientID: "gw", ClientSecret: "s3cr:et"}, "client_secret_post", 200},
		{"private_key_jwt", exchange.ClientAuth{Method: exchange.AuthPrivateKeyJWT, ClientID: "gw", PrivateKey: key, KeyID: "k1"}, "private_key_jwt", 200},
		{"wrong secret", exchange.ClientAuth{Method: exchange.AuthClientSecretBasic, ClientID: "gw", ClientSecret: "nope"}, "", 502},
		{"none", exchange.ClientAuth{}, "", 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, opts, func(c *exchange.Config) { c.Client = tc.client })
			resp := r.get(t, r.idp.Mint(t, jwtgatetest.Claims{Audience: "api"}))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.method != "" {
				if reqs := r.te.Requests(); len(reqs) != 1 || reqs[0].ClientAuth != tc.method {
					t.Fatalf("requests %+v, want one by %s", reqs, tc.method)
				}
			}
		})
	}
}

func TestJWTBearerGrant(t *testing.T) {
	r := newRig(t, jwtgatetest.TokenEndpointOptions{}, func(c *exchange.Config) { c.Grant = exchange.GrantJWTBearer })
	if resp := r.get(t, r.idp.Mint(t, jwtgatetest.Claims{Subject: "carol", Audience: "api"})); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	st := r.te.Stats()
	if st.JWTBearer != 1 || st.TokenExchange != 0 {
		t.Fatalf("stats %+v, want one jwt-bearer grant", st)
	}
	if s, _ := r.te.SubjectOf(bearer(r.up.requests()[0])); s != "carol" {
		t.Fatalf("upstream principal %q, want carol", s)
	}
}

func TestTokenEndpointFromDiscovery(t *testing.T) {
	r := newRig(t, jwtgatetest.TokenEndpointOptions{}, func(c *exchange.Config) {
		c.Issuer = strings.TrimSuffix(c.TokenEndpoint, jwtgatetest.TokenPath)
		c.TokenEndpoint = ""
	})
	for _, sub := range []string{"alice", "bob"} {
		if resp := r.get(t, r.idp.Mint(t, jwtgatetest.Claims{Subject: sub, Audience: "api"})); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if st := r.te.Stats(); st.Discovery != 1 || st.Issued != 2 {
		t.Fatalf("stats %+v, want one discovery fetch and two exchanges", st)
	}
}

func TestConfigErrors(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	for name, cfg := range map[string]exchange.Config{
		"no endpoint":          {Audience: "a"},
		"issuer with a query":  {TokenEndpoint: "https://a.example/t", Issuer: "https://a.example?x=1", Audience: "a"},
		"no audience":          {TokenEndpoint: "https://a.example/t"},
		"http elsewhere":       {TokenEndpoint: "http://a.example/t", Audience: "a"},
		"credentials in URL":   {TokenEndpoint: "https://u:p@a.example/t", Audience: "a"},
		"bad scope":            {TokenEndpoint: "https://a.example/t", Audience: "a", Scopes: []string{"a b"}},
		"relative resource":    {TokenEndpoint: "https://a.example/t", Resource: "/orders"},
		"basic without secret": {TokenEndpoint: "https://a.example/t", Audience: "a", Client: exchange.ClientAuth{Method: exchange.AuthClientSecretBasic, ClientID: "gw"}},
		"jwt without key":      {TokenEndpoint: "https://a.example/t", Audience: "a", Client: exchange.ClientAuth{Method: exchange.AuthPrivateKeyJWT, ClientID: "gw"}},
		"P-224 key":            {TokenEndpoint: "https://a.example/t", Audience: "a", Client: exchange.ClientAuth{Method: exchange.AuthPrivateKeyJWT, ClientID: "gw", PrivateKey: key}},
		"bad header":           {TokenEndpoint: "https://a.example/t", Audience: "a", Header: "X Bad"},
		"negative timeout":     {TokenEndpoint: "https://a.example/t", Audience: "a", Timeout: -1},
		"unknown grant":        {TokenEndpoint: "https://a.example/t", Audience: "a", Grant: 7},
	} {
		if _, err := exchange.New(cfg); !errors.Is(err, exchange.ErrInvalidConfig) {
			t.Errorf("%s: err %v, want ErrInvalidConfig", name, err)
		}
	}
}

// The header name is checked by internal/headername's RFC 9110 token rule,
// the one the gateway's other header names use: every tchar is accepted,
// delimiters and non-ASCII refused.
func TestHeaderNameIsAToken(t *testing.T) {
	for name, ok := range map[string]bool{
		"X-Api_Key": true, "x!#$%&'*+.^`|~9": true,
		"X:Y": false, "X(Y)": false, "X\"Y": false, "X\tY": false, "Ä": false,
	} {
		ex, err := exchange.New(exchange.Config{TokenEndpoint: "https://a.example/t", Audience: "a", Header: name})
		if got := err == nil; got != ok {
			t.Errorf("header %q: err %v, want accepted %v", name, err, ok)
		}
		if ex != nil {
			ex.Close()
		}
	}
}

func TestEnumsReadTheirNames(t *testing.T) {
	var g exchange.Grant
	var m exchange.AuthMethod
	var b exchange.Binding
	for _, tc := range []struct {
		u    interface{ UnmarshalText([]byte) error }
		in   string
		want string
	}{
		{&g, "jwt-bearer", "jwt-bearer"},
		{&g, "token-exchange", "token-exchange"},
		{&m, "private_key_jwt", "private_key_jwt"},
		{&m, "client_secret_post", "client_secret_post"},
		{&b, "verified_at_edge", "verified_at_edge"},
	} {
		if err := tc.u.UnmarshalText([]byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		if got := tc.u.(interface{ String() string }).String(); got != tc.want {
			t.Fatalf("%s read as %s", tc.in, got)
		}
	}
	for _, u := range []interface{ UnmarshalText([]byte) error }{&g, &m, &b} {
		if err := u.UnmarshalText([]byte("nope")); !errors.Is(err, exchange.ErrInvalidConfig) {
			t.Fatalf("%T: err %v", u, err)
		}
	}
}

// The private_key_jwt assertion's aud is the issuer when one is configured
// (RFC 10070), else the token endpoint; AudienceEndpoint keeps the token
// endpoint. Every key kind signs.
func TestPrivateKeyJWTAudience(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name     string
		key      crypto.Signer
		issuer   bool // Config.Issuer set
		endpoint bool // Config.TokenEndpoint set
		aud      exchange.AssertionAudience
		wantIss  bool // aud is the issuer, else the token endpoint
	}{
		{"token endpoint alone", p384, false, true, exchange.AudienceIssuer, false},
		{"issuer and token endpoint", p521, true, true, exchange.AudienceIssuer, true},
		{"issuer by discovery", ed, true, false, exchange.AudienceIssuer, true},
		{"issuer, audience endpoint", rsaKey, true, true, exchange.AudienceEndpoint, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientKey: tc.key.Public()}, func(c *exchange.Config) {
				if tc.issuer {
					c.Issuer = strings.TrimSuffix(c.TokenEndpoint, jwtgatetest.TokenPath)
				}
				if !tc.endpoint {
					c.TokenEndpoint = ""
				}
				c.Client = exchange.ClientAuth{Method: exchange.AuthPrivateKeyJWT, ClientID: "gw", PrivateKey: tc.key, Audience: tc.aud}
			})
			if resp := r.get(t, r.idp.Mint(t, jwtgatetest.Claims{Audience: "api"})); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			want := r.te.URL()
			if tc.wantIss {
				want = r.te.Issuer()
			}
			reqs := r.te.Requests()
			if len(reqs) != 1 || reqs[0].ClientAuth != "private_key_jwt" || reqs[0].AssertionAudience != want {
				t.Fatalf("requests %+v, want one private_key_jwt with aud %s", reqs, want)
			}
			if st := r.te.Stats(); (st.Discovery == 1) == tc.endpoint {
				t.Errorf("%d discovery fetches with token endpoint set %v", st.Discovery, tc.endpoint)
			}
		})
	}
}
