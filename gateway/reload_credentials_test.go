package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// What a reload keeps beyond keys and limits: a route's token exchange
// (its cached upstream tokens), the introspection clients (their cached
// answers), the API-key store and the internal-token key ring, each when
// its settings stay the same. Rebuilt instead, every reload would call the
// token and introspection endpoints again for tokens they have answered.
func TestReloadKeepsCredentialCaches(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "s3cret"})
	as := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{ClientID: "gateway", ClientSecret: "s3cret"})
	up := startSeenUpstream(t)
	key, stored := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Prefix: "jg_", Subject: "build-bot"})
	keyFile := jwtgatetest.APIKeyFile(t, stored)
	dir := t.TempDir()
	writeKeyFile(t, dir, "2026-01.pem", "ES256")

	secret := secretFile(t, "s3cret")
	base := exchangeConfig(t, idp, te, up.srv.URL) // once: it writes a secret file
	config := func(extra bool) Config {
		cfg := base
		cfg.Routes = slices.Clone(base.Routes)
		cfg.Introspection = &Introspection{Endpoint: as.URL(), ClientID: "gateway", ClientSecretFile: secret}
		cfg.APIKeys = &APIKeys{File: keyFile, Prefix: "jg_"}
		cfg.InternalTokens = &InternalTokens{Issuer: "https://gateway.internal", KeyDir: dir}
		cfg.Routes = append(cfg.Routes,
			Route{Prefix: "/opaque/", Upstream: up.srv.URL, Credentials: []string{"api_key", "introspection"}},
			Route{Prefix: "/signed/", Upstream: up.srv.URL, UpstreamAuth: &UpstreamAuth{Header: "X-Internal-Token", Sign: &UpstreamSign{Audience: "svc"}}})
		if extra {
			cfg.Routes = append(cfg.Routes, Route{Prefix: "/extra/", Upstream: up.srv.URL})
		}
		return cfg
	}
	var last ReloadEvent
	g := startGatewayOpts(t, config(false), Options{OnReload: func(e ReloadEvent) { last = e }})
	g.waitReady(t)

	alice := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	opaque := as.Issue(t, jwtgatetest.Claims{Subject: "bob", Issuer: idp.Issuer()})
	round := func(when string) {
		t.Helper()
		for _, c := range []struct{ path, tok string }{{"/orders/1", alice}, {"/opaque/1", opaque}, {"/opaque/1", key}, {"/signed/1", alice}} {
			if resp, body := g.get(t, c.path, c.tok); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s: %d %s", when, c.path, resp.StatusCode, body)
			}
		}
	}
	round("before")
	exchanges, introspections := te.Stats().Requests, as.Requests()
	for i := range 3 {
		if err := g.Reload(context.Background(), config(i%2 == 0)); err != nil {
			t.Fatal(err)
		}
		round("after a reload")
	}
	if n := te.Stats().Requests; n != exchanges {
		t.Errorf("%d token exchanges after three reloads, want %d (the exchange's cache kept)", n, exchanges)
	}
	if n := as.Requests(); n != introspections {
		t.Errorf("%d introspections after three reloads, want %d (the cached answer kept)", n, introspections)
	}
	for _, name := range []string{`token exchange "/orders/"`, "introspection", "api keys", "internal token keys"} {
		if !slices.Contains(last.Kept, name) {
			t.Errorf("the last reload did not keep %s (kept %q, made %v)", name, last.Kept, last)
		}
	}
}

// An exchange that authenticates with private_key_jwt is kept across
// reloads too: its key, parsed again from the file each time, is named by
// its fingerprint, not by the address of the new value.
func TestReloadKeepsPrivateKeyJWTExchange(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	keyFile := writeKeyFile(t, t.TempDir(), "client.pem", "ES256")
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientKey: k.(crypto.Signer).Public()})
	up := startSeenUpstream(t)
	config := func(extra bool) Config {
		cfg := Config{Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Audiences: []string{"api"},
			Routes: []Route{{Prefix: "/orders/", Upstream: up.srv.URL, UpstreamAuth: &UpstreamAuth{Exchange: &UpstreamExchange{
				TokenEndpoint: te.URL(), Audience: "orders", ClientID: "gw", PrivateKeyFile: keyFile,
			}}}}}
		if extra {
			cfg.Routes = append(cfg.Routes, Route{Prefix: "/extra/", Upstream: up.srv.URL})
		}
		return cfg
	}
	var last ReloadEvent
	g := startGatewayOpts(t, config(false), Options{OnReload: func(e ReloadEvent) { last = e }})
	g.waitReady(t)
	alice := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	for i := range 3 {
		if i > 0 {
			if err := g.Reload(context.Background(), config(i%2 == 1)); err != nil {
				t.Fatal(err)
			}
		}
		if resp, body := g.get(t, "/orders/1", alice); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := te.Stats().Requests; n != 1 {
		t.Errorf("%d token exchanges across two reloads, want 1", n)
	}
	if !slices.Contains(last.Kept, `token exchange "/orders/"`) {
		t.Errorf("the last reload did not keep the exchange (kept %q)", last.Kept)
	}
}

// A private_key_jwt exchange's assertion names the issuer when one is
// configured (RFC 10070), the token endpoint with assertion_audience:
// endpoint; a P-384 key read from its file signs it (ES384).
func TestExchangeAssertionAudience(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ audience, want string }{{"", "issuer"}, {"endpoint", "endpoint"}} {
		t.Run(tc.want, func(t *testing.T) {
			te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientKey: &key.PublicKey})
			up := startSeenUpstream(t)
			cfg := Config{Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Audiences: []string{"api"},
				Routes: []Route{{Prefix: "/orders/", Upstream: up.srv.URL, UpstreamAuth: &UpstreamAuth{Exchange: &UpstreamExchange{
					TokenEndpoint: te.URL(), Issuer: te.Issuer(), Audience: "orders", ClientID: "gw", PrivateKeyFile: keyFile,
					AssertionAudience: tc.audience,
				}}}}}
			g := startGatewayOpts(t, cfg, Options{})
			g.waitReady(t)
			if resp, body := g.get(t, "/orders/1", idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})); resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			want := te.Issuer()
			if tc.want == "endpoint" {
				want = te.URL()
			}
			if reqs := te.Requests(); len(reqs) != 1 || reqs[0].AssertionAudience != want {
				t.Fatalf("requests %+v, want one assertion with aud %s", reqs, want)
			}
			if st := te.Stats(); st.Discovery != 0 {
				t.Errorf("%d discovery fetches with token_endpoint set", st.Discovery)
			}
		})
	}
}
