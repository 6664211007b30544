// Package budget charges each verified subject for the model tokens its
// LLM requests actually used, as the upstream reports them, against a
// budget per window (minute, hour, day, calendar month in UTC), kept in
// this process ([Local]) or in Redis for every replica (package
// budget/redisbudget).
//
// A [Budget] is spent in two steps: Check before the upstream is called
// (a spent budget is refused: 429, Retry-After at the window's end, the
// budget's RateLimit-* headers, and the upstream never sees the request),
// Charge after it answered. The request that crosses the line completes
// and is charged in full; the next one is refused.
//
// [Handler] does both around any http.Handler behind a jwtgate Verifier,
// typically an httputil.ReverseProxy: it reads the claims from the
// context, picks the budget (a tier claim may choose), passes the
// response through untouched and unbuffered while an llmusage.Tap reads
// its usage, prices it with a [Cost] ([Weights] per model, a [WeightTable]
// for configuration files), and charges it, or a [Fallback] that is never
// zero when no usage arrives. Shadow mode measures and reports without
// refusing. Events ([Event]) carry bounded labels for metrics; the
// subject is only in Event.Key.
//
// A budget may count money instead of tokens: Config.Prices, a
// [PriceTable] (start from [DefaultPrices]), prices each model's tokens in
// [Micros] of a currency, exactly, with a fallback price for models it
// does not know. A request may spend from several budgets at once — its
// subject's, its tenant's (Config.TenantClaim) and the route's
// (Config.Route) — and is refused when any is spent; the RateLimit-Policy
// and RateLimit header fields say what is left of each ([Level]).
//
// # Quick start
//
//	b, err := budget.NewLocal(budget.LocalConfig{Limit: 100_000, Window: budget.PerDay})
//	if err != nil { ... }
//	h, err := budget.NewHandler(budget.Config{
//		Budget:     b,
//		Weights:    budget.WeightTable{"gpt-4o*": {Input: 1, Output: 4, CachedInput: 0.5}},
//		Fallback:   budget.Fallback{Estimate: 2000, UseMaxTokens: true},
//		WriteError: verifier.WriteError,
//	})
//	if err != nil { ... }
//	proxy := httputil.NewSingleHostReverseProxy(upstream)
//	http.Handle("/v1/", verifier.Handler(h.Wrap(proxy)))
package budget
