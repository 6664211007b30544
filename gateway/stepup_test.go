package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// routes[].acr_values and max_auth_age (RFC 9470): the YAML keys reach the
// route's Verifier, whose 401 names what the client must come back with;
// bad values are config errors.
func TestStepUpRouteFromYAML(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg, err := ParseYAML([]byte("listen: 127.0.0.1:0\nissuer: " + p.Issuer() + "\nroutes:\n" +
		"  - {prefix: /admin, upstream: '" + up.URL + "', acr_values: [urn:mfa], max_auth_age: 5m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	weak := p.Mint(t, jwtgatetest.Claims{Extra: map[string]any{"acr": "urn:pwd", "auth_time": time.Now().Unix()}})
	resp, _ := g.get(t, "/admin", weak)
	if www := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(www, `error="insufficient_user_authentication"`) || !strings.Contains(www, `acr_values="urn:mfa"`) || !strings.Contains(www, "max_age=300") {
		t.Fatalf("weak login: %d %q", resp.StatusCode, www)
	}
	strong := p.Mint(t, jwtgatetest.Claims{Extra: map[string]any{"acr": "urn:mfa", "auth_time": time.Now().Unix()}})
	if resp, body := g.get(t, "/admin", strong); resp.StatusCode != http.StatusOK {
		t.Fatalf("strong login: %d %s", resp.StatusCode, body)
	}
	for yaml, want := range map[string]string{
		"max_auth_age: -5m":   "must not be negative",
		"acr_values: ['a b']": "acr_values",
		"acr_values: ['']":    "acr_values",
	} {
		cfg, err := ParseYAML([]byte("issuer: https://idp.example\nroutes:\n  - {prefix: /a, upstream: 'http://u', " + yaml + "}\n"))
		if err == nil {
			_, err = cfg.Validate(nil)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", yaml, err)
		}
	}
}
