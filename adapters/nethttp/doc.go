// Package nethttp is the glue between jwtgate's Verifier and plain net/http
// handlers: per-route requirements as func(http.Handler) http.Handler (the
// shape the standard ServeMux wraps and chi's Use and With take), and
// handlers that receive the verified claims as an argument.
//
// It holds no verification logic and no status table: every decision is
// the Verifier's, every rejection is written by the Verifier's WriteError.
//
// Quick start:
//
//	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{iss}})
//	mux := http.NewServeMux()
//	nethttp.Handle(mux, "GET /items", v, listItems)                     // any valid token
//	nethttp.Handle(mux, "DELETE /items/{id}", v, deleteItem, "admin")   // plus scope "admin"
//	mux.Handle("GET /me", nethttp.HandlerFunc(v, func(w http.ResponseWriter, r *http.Request, c *middleware.Claims) {
//		fmt.Fprintln(w, c.Subject)
//	}))
//
// With chi:
//
//	r.With(nethttp.Middleware(v, "admin")).Delete("/items/{id}", deleteItem)
package nethttp
