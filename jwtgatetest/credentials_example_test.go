package jwtgatetest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// An introspection endpoint for a handler that takes opaque tokens: active,
// revoked, and the endpoint down (503, never 401).
func ExampleIntrospectionServer() {
	t := &exampleT{}
	defer t.done()
	as := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
	ic, err := introspect.New(introspect.Config{Endpoint: as.URL(), NegativeMaxAge: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer ic.Close()
	tok := as.Issue(t, jwtgatetest.Claims{Subject: "alice"})
	_, err = ic.Introspect(context.Background(), tok)
	fmt.Println("active:", err == nil)
	_, err = ic.Introspect(context.Background(), "never-issued")
	fmt.Println("unknown:", errors.Is(err, middleware.ErrTokenInactive))
	as.SetFault(jwtgatetest.IntrospectionFault{Status: http.StatusInternalServerError})
	_, err = ic.Introspect(context.Background(), "another")
	fmt.Println("endpoint down:", errors.Is(err, introspect.ErrUnavailable), errors.Is(err, middleware.ErrTokenInactive))
	fmt.Println("calls:", as.Requests())
	// Output:
	// active: true
	// unknown: true
	// endpoint down: true false
	// calls: 3
}

// An API key and its key file, for a handler that takes keys.
func ExampleNewAPIKey() {
	t := &exampleT{}
	defer t.done()
	key, stored := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Prefix: "jg_", Subject: "build-bot", Scopes: []string{"deploy"}})
	keys, err := apikey.New(apikey.Config{File: jwtgatetest.APIKeyFile(t, stored), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer keys.Close()
	v, err := middleware.New(middleware.Config{Keys: jwkset.NewMemoryStorage(), Issuers: []string{"https://idp.example"},
		Audiences: []string{"api"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("%v", err)
	}
	c, err := v.With(middleware.Route{APIKeys: keys}).Verify(context.Background(), key)
	fmt.Println(c.Kind(), c.Subject, c.HasScopes("deploy"), err)
	// Output: api_key build-bot true <nil>
}
