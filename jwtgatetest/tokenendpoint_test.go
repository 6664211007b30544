package jwtgatetest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func postToken(t *testing.T, e *jwtgatetest.TokenEndpoint, form url.Values, user, pass string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	c := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func TestTokenEndpointGrantsFaultsAndCounters(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	e := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "pw", Issuer: idp})
	subject := idp.Mint(t, jwtgatetest.Claims{Subject: "alice"})
	xchg := url.Values{"grant_type": {jwtgatetest.GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {"orders"}, "scope": {"read"}}
	resp, m := postToken(t, e, xchg, "gw", "pw")
	if resp.StatusCode != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(300) {
		t.Fatalf("token exchange: %d %v", resp.StatusCode, m)
	}
	if s, ok := e.SubjectOf(m["access_token"].(string)); !ok || s != "alice" {
		t.Fatalf("SubjectOf: %q %v", s, ok)
	}
	// The issued token is the issuer's JWT: three parts.
	if n := strings.Count(m["access_token"].(string), "."); n != 2 {
		t.Fatalf("issued token has %d dots, want a JWT", n)
	}
	bearer := url.Values{"grant_type": {jwtgatetest.GrantJWTBearer}, "assertion": {subject}, "client_id": {"gw"}, "client_secret": {"pw"}}
	if resp, m := postToken(t, e, bearer, "", ""); resp.StatusCode != 200 {
		t.Fatalf("jwt-bearer: %d %v", resp.StatusCode, m)
	}
	if resp, m := postToken(t, e, xchg, "gw", "wrong"); resp.StatusCode != 401 || m["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %v", resp.StatusCode, m)
	}
	if err := e.SetBehavior(jwtgatetest.TokenBehavior{Status: 503}); err != nil {
		t.Fatal(err)
	}
	if resp, m := postToken(t, e, xchg, "gw", "pw"); resp.StatusCode != 503 || m["error"] != "server_error" {
		t.Fatalf("fault: %d %v", resp.StatusCode, m)
	}
	if err := e.SetBehavior(jwtgatetest.TokenBehavior{Body: []byte("{not json")}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := postToken(t, e, xchg, "gw", "pw"); resp.StatusCode != 200 {
		t.Fatalf("body fault: %d", resp.StatusCode)
	}
	want := jwtgatetest.TokenStats{Requests: 5, TokenExchange: 4, JWTBearer: 1, Issued: 2, Refused: 1}
	if st := e.Stats(); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	reqs := e.Requests()
	if len(reqs) != 2 || reqs[0].ClientAuth != "client_secret_basic" || reqs[1].ClientAuth != "client_secret_post" ||
		reqs[0].Audience != "orders" || reqs[0].Subject != "alice" || strings.Contains(reqs[0].SubjectSHA256, subject) {
		t.Fatalf("requests %+v", reqs)
	}
	if err := e.SetBehavior(jwtgatetest.TokenBehavior{Status: 99}); err == nil {
		t.Fatal("status 99 accepted")
	}
}
