package apikey_test

import (
	"testing"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/policy"
)

// A key's claims reach a route policy as a JWT's do: key_id, sub, scope,
// the tier.
func TestPolicySeesKeyClaims(t *testing.T) {
	ci, ciLine := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{ID: "ci", Subject: "build-bot", Tier: "gold"})
	dev, devLine := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{ID: "dev", Subject: "laptop", Tier: "free"})
	s := newStore(t, apikey.Config{File: jwtgatetest.APIKeyFile(t, ciLine, devLine)})
	pol, err := policy.Compile(`claims.key_id == "ci" && claims.tier == "gold" && claims.sub == "build-bot"`, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := route(t, s, middleware.Route{Policy: pol})
	if a := send(v, "X-Api-Key", ci); a.status != 200 {
		t.Errorf("ci key: %d %s", a.status, a.body)
	}
	if a := send(v, "X-Api-Key", dev); a.status != 403 {
		t.Errorf("dev key: %d %s", a.status, a.body)
	}
}
