package jwtgatetest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// exampleT stands in for the *testing.T an Example does not have: it runs
// cleanups at the end and turns a failure into a printed line and a
// non-zero exit. In a real test, pass t.
type exampleT struct{ cleanups []func() }

func (e *exampleT) Helper()          { /* no call frames to hide */ }
func (e *exampleT) Cleanup(f func()) { e.cleanups = append(e.cleanups, f) }
func (e *exampleT) Fatalf(f string, a ...any) {
	fmt.Printf("FAIL: "+f+"\n", a...)
	e.done()
	os.Exit(1)
}
func (e *exampleT) done() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// A handler test: an issuer, a Verifier on its keys, a token, a request.
func Example() {
	t := &exampleT{}
	defer t.done()

	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256", "RS256"}})
	v, _ := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api", Scopes: []string{"read"}})

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s, scopes %v", c.Subject, c.Scopes())
	})
	for _, bearer := range []string{tok, idp.Bad(t, jwtgatetest.Expired)} {
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		rec := httptest.NewRecorder()
		v.Handler(hello).ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 hello alice, scopes [read]
	// 401 {"error":"invalid_token","error_description":"token expired"}
}

// Every class of token a verifier must refuse, with what it violates.
func ExampleMustReject() {
	t := &exampleT{}
	defer t.done()

	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	v, _ := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	for _, r := range jwtgatetest.MustReject()[:6] {
		_, err := v.Verify(context.Background(), idp.Bad(t, r.Class))
		fmt.Printf("%-15s %-31s %s\n", r.Class, r.RFC, middleware.Reason(err))
	}
	// Output:
	// expired         RFC 7519 §4.1.4                 expired
	// not-yet-valid   RFC 7519 §4.1.5                 not_yet_valid
	// wrong-issuer    RFC 7519 §4.1.1, RFC 8725 §3.8  claims
	// wrong-audience  RFC 7519 §4.1.3, RFC 8725 §3.9  claims
	// alg-none        RFC 7519 §6, RFC 8725 §3.1      malformed
	// alg-confusion   RFC 8725 §2.1, §3.1             alg
}

// A provider outage as a JWKS cache sees it: the last good key set keeps
// serving, and a token of a key the cache could not fetch is a 503 (keys
// unavailable), not a 401.
func ExampleIssuer_SetJWKS() {
	t := &exampleT{}
	defer t.done()

	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"EdDSA"}})
	c, err := cache.New(context.Background(), cache.Config{
		Issuer:           idp.Issuer(), // the JWKS URL is found by OIDC discovery
		WaitForFirstLoad: true,
		// A set fetched within the last UnknownKIDInterval (1s) answers
		// for unknown kids without a fetch; here an unknown kid looks at once.
		UnknownKIDInterval: time.Nanosecond,
		Logger:             slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer c.Close()
	v, _ := middleware.New(middleware.Config{Keys: c, Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	before := idp.Mint(t, jwtgatetest.Claims{})

	_ = idp.SetJWKS(jwtgatetest.Behavior{Status: http.StatusServiceUnavailable})
	_ = idp.Rotate() // a key the cache cannot fetch now
	after := idp.Mint(t, jwtgatetest.Claims{})

	for _, tok := range []string{before, after} {
		_, err := v.Verify(context.Background(), tok)
		fmt.Println(middleware.Reason(err))
	}
	s := idp.Stats()
	fmt.Println("discovery:", s.Discovery, "JWKS:", s.JWKS, "conditional:", s.JWKSConditional)
	// Output:
	// ok
	// keys_unavailable
	// discovery: 1 JWKS: 2 conditional: 1
}

// A token endpoint for exchange flows: a fault, then the answer a client
// of it must handle.
func ExampleNewTokenEndpoint() {
	t := &exampleT{}
	defer t.done()
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "s3cret"})
	exchange := func() int {
		form := url.Values{"grant_type": {jwtgatetest.GrantTokenExchange},
			"subject_token":      {idp.Mint(t, jwtgatetest.Claims{Subject: "alice"})},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {"orders"}}
		req, _ := http.NewRequest(http.MethodPost, te.URL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("gw", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println(exchange())
	_ = te.SetBehavior(jwtgatetest.TokenBehavior{Status: http.StatusServiceUnavailable})
	fmt.Println(exchange())
	st := te.Stats()
	fmt.Println(st.Requests, st.TokenExchange, st.Issued)
	// Output:
	// 200
	// 503
	// 2 2 1
}
