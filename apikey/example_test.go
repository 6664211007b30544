package apikey_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/middleware"
)

// A route that takes API keys from X-Api-Key (and as bearer tokens with
// the store's prefix), each key becoming claims with its subject, scopes
// and tier.
func Example() {
	key, stored, err := apikey.Mint("jg_", apikey.Record{ID: "ci", Subject: "build-bot", Scopes: []string{"deploy"}, Tier: "gold"})
	if err != nil {
		panic(err)
	}
	keys, err := apikey.New(apikey.Config{Records: []apikey.Record{stored}, Prefix: "jg_"})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	v, err := middleware.New(middleware.Config{Keys: jwkset.NewMemoryStorage(), Issuers: []string{"https://idp.example"},
		Audiences: []string{"api"}, APIKeyHeader: "X-Api-Key", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	h := v.With(middleware.Route{APIKeys: keys, Scopes: []string{"deploy"}}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFromContext(r.Context())
		tier, _ := c.String("tier")
		fmt.Println(c.Kind(), c.Subject, tier)
	}))
	for _, k := range []string{key, key[:len(key)-1] + "x"} {
		r := httptest.NewRequest(http.MethodPost, "/deploy", nil)
		r.Header.Set("X-Api-Key", k)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	// Output:
	// api_key build-bot gold
	// 200
	// 401
}
