package introspect_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// A route that takes opaque tokens, introspected at the authorization
// server (here jwtgatetest's endpoint) and cached.
func Example() {
	as := jwtgatetest.StartIntrospection(jwtgatetest.IntrospectionOptions{ClientID: "gateway", ClientSecret: "s3cret"})
	defer as.Close()
	ic, err := introspect.New(introspect.Config{Endpoint: as.URL(), ClientID: "gateway", ClientSecret: "s3cret"})
	if err != nil {
		panic(err)
	}
	defer ic.Close()
	v, err := middleware.New(middleware.Config{Keys: jwkset.NewMemoryStorage(), Issuers: []string{as.Issuer()},
		Audiences: []string{"api"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	h := v.With(middleware.Route{Introspection: ic, Scopes: []string{"read"}}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFromContext(r.Context())
		fmt.Println(c.Kind(), c.Subject)
	}))
	tok := as.Issue(exampleTB{}, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}})
	for _, t := range []string{tok, tok, "not-issued"} {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+t)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	fmt.Println("endpoint asked", as.Requests(), "times")
	// Output:
	// introspection alice
	// 200
	// introspection alice
	// 200
	// 401
	// endpoint asked 2 times
}

// exampleTB lets an Example use the kit's TB calls.
type exampleTB struct{}

func (exampleTB) Helper()                        {}
func (exampleTB) Cleanup(func())                 {}
func (exampleTB) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
