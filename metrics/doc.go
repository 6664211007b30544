// Package metrics exports jwtgate's behaviour to Prometheus: requests by
// outcome and reason, verification latency, verified-token cache hits,
// rate-limit decisions, and the key cache's fetches, refreshes, breaker
// state, key count and time since the last good fetch.
//
// It is a package of its own so that programs that don't import it don't
// link the Prometheus client. It only plugs into the hooks the core
// packages already have; nothing in them depends on it.
//
// Quick start:
//
//	reg := prometheus.NewRegistry()
//	m, _ := metrics.New(metrics.Config{Registerer: reg})
//	keys, _ := cache.New(ctx, cache.Config{URL: jwksURL, Observer: m.CacheObserver(cache.Observer{})})
//	v, _ := middleware.New(middleware.Config{
//		Keys:         keys,
//		OnVerify:  m.OnVerify,
//		RateLimit: middleware.RateLimit{Limiter: lim, OnDecision: m.OnRateLimit},
//	})
//	mux.Handle("/api/", v.Handler(api))
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
package metrics
