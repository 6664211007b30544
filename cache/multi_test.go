package cache

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestMultiServesEachIssuerFromItsOwnProvider(t *testing.T) {
	// Two issuers publish their own keys under one kid.
	idps := map[string]*jwtgatetest.Issuer{"https://a.example": liveIdP(t), "https://b.example": liveIdP(t)}
	for _, idp := range idps {
		setJWKS(t, idp, jwtgatetest.Behavior{Body: jwks(edit(t, publishedJWKs(t, idp)[0], map[string]any{"kid": "shared-kid"}))})
	}
	mint := func(idp *jwtgatetest.Issuer) string {
		return idp.MintWith(t, jwtgatetest.Claims{}, jwtgatetest.MintOptions{KID: "shared-kid"})
	}
	m, err := NewMulti(context.Background(), []Config{
		{Issuer: "https://a.example", URL: idps["https://a.example"].JWKSURL(), Logger: discard()},
		{Issuer: "https://b.example", URL: idps["https://b.example"].JWKSURL(), Logger: discard()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !m.Ready() {
		t.Fatal("not ready")
	}
	st := m.Storages()
	if len(st) != 2 {
		t.Fatalf("%d storages", len(st))
	}
	// The same kid names different keys at each issuer.
	for iss, other := range map[string]string{"https://a.example": "https://b.example", "https://b.example": "https://a.example"} {
		kf, err := keyfunc.New(keyfunc.Options{Storage: st[iss]})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jwt.Parse(mint(idps[iss]), kf.Keyfunc); err != nil {
			t.Fatalf("%s: %v", iss, err)
		}
		if _, err := jwt.Parse(mint(idps[other]), kf.Keyfunc); err == nil {
			t.Fatalf("%s accepted the other issuer's key", iss)
		}
	}
	if s := m.Status(); len(s) != 2 || s["https://b.example"].URL != idps["https://b.example"].JWKSURL() {
		t.Fatalf("status %+v", s)
	}
	if got := m.Issuers(); len(got) != 2 || got[0] != "https://a.example" {
		t.Fatalf("issuers %v", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m.Ready() {
		t.Fatal("ready after Close")
	}
	m.Close() // idempotent
}

func TestNewMultiValidates(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ok := Config{Issuer: "https://a.example", Logger: discard(), HTTPClient: memIdP(t).Client()}
	for name, cfgs := range map[string][]Config{
		"empty":       nil,
		"no issuer":   {ok, {URL: "https://b.example/jwks"}},
		"duplicate":   {ok, ok},
		"invalid cfg": {ok, {Issuer: "https://b.example", URL: "http://remote.example/jwks"}},
	} {
		m, err := NewMulti(context.Background(), cfgs)
		if m != nil || !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%s: %v, %v", name, m, err)
		}
	}
}

func TestCloseLeavesNoGoroutineOverRealSockets(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	arrived := make(chan struct{})
	var served atomic.Int32
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, OnRequest: func(jwtgatetest.Request) {
		if served.Add(1) == 2 {
			close(arrived) // the second request hangs until its client gives up
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	c, err := New(context.Background(), Config{URL: idp.JWKSURL(), HTTPClient: client, WaitForFirstLoad: true,
		Logger: discard(), UnknownKIDInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.SetJWKS(jwtgatetest.Behavior{Hang: true}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.KeyRead(context.Background(), "unknown") // waits on the hanging fetch
		done <- err
	}()
	<-arrived
	c.Close()
	if err := <-done; !errors.Is(err, ErrKeysUnavailable) && !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("reader released with %v", err)
	}
}

func TestCloseWithTheDefaultClientLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close() // after the cache's Close, before goleak looks
	c, err := New(context.Background(), Config{URL: idp.JWKSURL(), WaitForFirstLoad: true, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := idp.KID("ES256")
	mustRead(t, c, kid)
	c.Close() // stops the loop and drops the keep-alive connection it owns
}
