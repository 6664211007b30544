package policy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/policy"
)

// A route that only the acme tenant's operators may use.
func ExampleCompile() {
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	defer idp.Close()
	keys, _ := idp.Storage()
	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})

	p, err := policy.Compile(`claims.tenant == "acme" && "ops" in claims.groups`, policy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := v.With(middleware.Route{Policy: p}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, groups := range [][]string{{"ops"}, {"dev"}} {
		tok, _ := idp.Sign(jwtgatetest.Claims{Extra: map[string]any{"tenant": "acme", "groups": groups}}, jwtgatetest.MintOptions{})
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(groups, w.Code)
	}

	_, err = policy.Compile(`claims.tenant ==`, policy.Options{})
	fmt.Println(err != nil)
	// Output:
	// [ops] 200
	// [dev] 403
	// true
}
