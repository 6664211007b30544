package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The gateway embedded in a program of one's own: its handler mounted in
// the program's mux, next to a route the program serves itself.
func Example() {
	// An identity provider and an upstream, both on loopback.
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{})
	if err != nil {
		panic(err)
	}
	defer idp.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Jwtgate-Subject"))
	}))
	defer api.Close()

	gw, err := gateway.New(context.Background(), gateway.Config{
		Issuer:    idp.Issuer(),
		Audiences: []string{"api"},
		Routes: []gateway.Route{{
			Prefix: "/api/", Upstream: api.URL, Scopes: []string{"read"},
			ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"},
		}},
	}, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.WaitReady(ctx); err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/", gw.Handler()) // the routes, /healthz, /readyz, /metrics
	mux.HandleFunc("GET /mine", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "my own route")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tok, err := idp.Sign(jwtgatetest.Claims{Subject: "alice", Audience: "api", Scopes: []string{"read"}}, jwtgatetest.MintOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("ready:", gw.Ready())
	for _, c := range []struct{ path, token string }{{"/api/hello", tok}, {"/api/hello", ""}, {"/mine", ""}} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d %s\n", c.path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// ready: true
	// /api/hello 200 hello alice
	// /api/hello 401 {"error":"unauthorized","error_description":"authentication required"}
	// /mine 200 my own route
}

// A running gateway takes a new config without a restart: a config that
// does not validate is refused and the running one keeps serving; a good
// one serves the next request, while the provider's keys are kept.
func ExampleGateway_Reload() {
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{})
	if err != nil {
		panic(err)
	}
	defer idp.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s from %s", r.URL.Path, r.Header.Get("X-Jwtgate-Subject"))
	}))
	defer api.Close()
	config := func(prefixes ...string) gateway.Config {
		cfg := gateway.Config{Issuer: idp.Issuer()}
		for _, p := range prefixes {
			cfg.Routes = append(cfg.Routes, gateway.Route{Prefix: p, Upstream: api.URL, ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"}})
		}
		return cfg
	}
	gw, err := gateway.New(context.Background(), config("/v1/"), gateway.Options{
		Logger: slog.New(slog.DiscardHandler),
		OnReload: func(e gateway.ReloadEvent) {
			var kept []string // kinds only: a provider's name has the test's port
			for _, k := range e.Kept {
				kind, _, _ := strings.Cut(k, ` "`)
				kept = append(kept, kind)
			}
			fmt.Printf("reload: generation %d, refused %v, kept %q\n", e.Generation, e.Err != nil, kept)
		},
	})
	if err != nil {
		panic(err)
	}
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.WaitReady(ctx); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	tok, err := idp.Sign(jwtgatetest.Claims{Subject: "alice"}, jwtgatetest.MintOptions{})
	if err != nil {
		panic(err)
	}
	get := func(path string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d %s\n", path, resp.StatusCode, strings.TrimSpace(string(body)))
	}

	bad := config("/v1/", "v2") // a prefix must start with "/"
	err = gw.Reload(ctx, bad)
	fmt.Println("invalid:", errors.Is(err, gateway.ErrInvalidConfig))
	get("/v1/a")
	if err := gw.Reload(ctx, config("/v1/", "/v2/")); err != nil {
		panic(err)
	}
	get("/v2/b")
	// Output:
	// reload: generation 1, refused true, kept []
	// invalid: true
	// /v1/a 200 /v1/a from alice
	// reload: generation 2, refused false, kept ["provider" "upstream transport"]
	// /v2/b 200 /v2/b from alice
}
