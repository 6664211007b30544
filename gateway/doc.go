// Package gateway is jwtgate's embeddable reverse proxy: it verifies each
// request's JWT with the jwtgate middleware, applies per-route scopes,
// audiences and rate limits, forwards chosen claims as headers and streams
// responses (server-sent events) as the upstream writes them. It serves
// /healthz, /readyz (keys loaded) and /metrics (Prometheus) beside the
// routes. It is a library only: the program around it (flags, exit codes,
// signals, the demo) is package cli in cmd/jwtgate, which examples/gateway
// runs too.
//
// Config is the YAML config file's schema (LoadFile reads one); New
// validates it and builds a Gateway; Handler is an http.Handler to serve
// as it is or mount in a mux of one's own, next to routes of one's own;
// Serve serves it on a listener with graceful shutdown, and Close stops
// the key cache and the Redis clients. Options
// hold the replaceable parts (HTTP client, upstream transport, logger,
// metrics registry) and the hooks.
//
// All routes share one middleware.Verifier (derived per route with
// Verifier.With): a token is verified, and cached, once however many
// routes it is used on.
//
// A route in ModeDecision proxies nowhere: it answers forward-auth
// sub-requests (nginx auth_request, Caddy forward_auth, Traefik
// ForwardAuth, Envoy's HTTP ext_authz) about an original request, which
// trusted proxies (Config.TrustedProxies; loopback by default) describe in
// X-Original-URI or X-Forwarded-Uri: 200 with every claim header of the
// route the original's clean path picks, or that route's rejection. A
// description that is present but unusable, or two that disagree, is 400,
// never a fallback to the sub-request's own path. See Route.Mode and
// docs/behind-a-proxy.md.
//
// A proxy route judges the request it proxies: the path must be the one
// every mode chooses routes by (internal/routepath: decoded once,
// backslashes as slashes, cleaned, not ambiguous), else 400; DPoP's htm and
// htu are the request's own method and path, with scheme and host from a
// trusted proxy at most.
//
// A proxy route may have an LLM token budget (Route.Budget, package
// budget): each subject's spent budget is refused with 429 before the
// upstream is called, and the tokens the upstream reports in its response
// are charged after it, kept in this process or, with Config.Redis, in
// Redis for every replica.
//
// With Config.TLS, Serve speaks HTTPS (TLS 1.2+, HTTP/2 by ALPN) on its
// listener, verifies client certificates against a CA bundle when asked
// (RFC 8705 certificate-bound tokens then work against the gateway
// directly), and reads the certificate, key and CA files again when they
// change, without a restart; Gateway.TLSConfig is the same for a server of
// one's own.
//
// Reload replaces the config of a running gateway without dropping a
// request: the new config is validated and built beside the running one
// (unchanged providers keep their key caches, unchanged routes their rate
// limits and budgets, the Redis client stays), a new provider's keys are
// awaited, and the new config is swapped in atomically; requests and
// streams under way finish on the config they started on, whose resources
// are closed after its last request. A config that does not validate, or
// changes listen, tls or shutdown_timeout, keeps the running one. Every
// reload is logged, counted in jwtgate_config_reloads_total and reported
// to Options.OnReload.
//
// Headers under ReservedHeaderPrefix (X-Jwtgate-) are the gateway's: the
// client's are removed on every route before verification, so an upstream
// may trust the ones it receives.
//
// A program of one's own that starts a gateway calls CheckStartup before
// listening (a provider naming another issuer is a config error; one that
// is down is an outage /readyz reports) and, for OTEL_* traces,
// TracingFromEnv into Options.Tracing, as the jwtgate program does.
//
// Quick start, embedded:
//
//	gw, err := gateway.New(ctx, gateway.Config{
//		Issuer:    "https://idp.example.com", // OIDC discovery finds the JWK Set
//		Audiences: []string{"api"},
//		Routes:    []gateway.Route{{Prefix: "/api/", Upstream: "http://127.0.0.1:9000", Scopes: []string{"read"}}},
//	}, gateway.Options{})
//	if err != nil {
//		return err // errors.Is(err, gateway.ErrInvalidConfig)
//	}
//	defer gw.Close()
//	mux := http.NewServeMux()
//	mux.Handle("/", gw.Handler())
//	mux.HandleFunc("GET /mine", mine) // a route of one's own
//	http.ListenAndServe("127.0.0.1:8080", mux)
//
// Quick start, as a program (cmd/jwtgate; with no identity provider
// configured it starts a demo: an embedded identity provider that mints
// tokens for anyone, a demo upstream and the gateway, on loopback only
// unless -demo asks otherwise):
//
//	go run ./examples/gateway                      # demo: provider, upstream, gateway on loopback
//	go run ./examples/gateway -issuer https://idp.example.com -audience api -upstream http://127.0.0.1:9000
//	go run ./examples/gateway -config gateway.yaml
package gateway
