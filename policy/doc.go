// Package policy compiles route policies written in CEL (cel.dev/cel-go)
// into middleware.Policy values: rules over the verified claims, the
// request, the client's address and the MCP call, evaluated after the
// route's other requirements on every request, failing closed.
//
// Quick start:
//
//	p, err := policy.Compile(`claims.tenant == "acme" && cidr("10.0.0.0/8").containsIP(source.ip)`, policy.Options{})
//	if err != nil {
//		log.Fatal(err) // a *policy.CompileError: where, and why
//	}
//	mux.Handle("/admin/", v.With(middleware.Route{Policy: p}).Handler(admin))
//
// Expressions are type-checked and their worst-case cost is bounded at
// Compile: a typo in a variable or field, a non-boolean result or an
// expression that may cost more than Options.MaxCost is an error there,
// never at request time. At request time, anything the expression cannot
// decide (an absent claim, a value of another type) denies.
//
// Only programs that import this package link CEL: middleware declares the
// Policy interface and nothing more (internal/depcheck checks it).
package policy
