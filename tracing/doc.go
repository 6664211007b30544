// Package tracing records jwtgate's work as OpenTelemetry spans: a server
// span per request, and under it the verification (cache hit, alg,
// credential kind, the reason of a refusal — never the token), the rate
// limit, the budget check and charge, and the upstream call, whose W3C
// traceparent makes the upstream's spans join the trace. The key cache's
// fetches and refreshes, which run on the cache's own goroutines, are
// traces of their own, linked (span links) to the requests that waited for
// them: a token with a kid not yet seen leads from its request to the
// refresh that looked for the key.
//
// It is a package of its own so that the core links no OpenTelemetry:
// middleware, cache, ratelimit, budget and the adapters do not import it
// (internal/depcheck checks), and it plugs into their observation hooks.
//
// The client's traceparent is honoured only where Config.TrustIncoming
// says so; otherwise each request starts a trace of its own.
//
// Quick start:
//
//	tr, _ := tracing.New(tracing.Config{TracerProvider: tp}) // tp: your sdktrace.TracerProvider
//	v, _ := middleware.New(middleware.Config{
//		Keys: keys, Issuers: []string{iss}, Audiences: []string{"api"},
//		OnVerify:  tr.OnVerify,
//		RateLimit: middleware.RateLimit{Limiter: lim, OnDecision: tr.OnRateLimit},
//	})
//	proxy := &httputil.ReverseProxy{Rewrite: rewrite, Transport: tr.Transport(nil)}
//	http.ListenAndServe(addr, tr.Handler(v.Handler(proxy)))
//
// and cache.Config.Observer = tr.CacheObserver(cache.Observer{}),
// budget.Config.Observer = tr.OnBudget. Child spans are made only under a
// request span that records, so an unsampled request costs a server span
// start and little else.
//
// The gateway sets all of this up from the standard OTEL_* environment
// variables; see docs/tracing.md.
package tracing
