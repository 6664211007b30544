package extauthz_test

import (
	"context"
	"testing"

	"github.com/jwtgate/jwtgate/extauthz"
	"github.com/jwtgate/jwtgate/internal/authtest"
	"github.com/jwtgate/jwtgate/middleware"
)

// BenchmarkCheck is one allowed Check (request rebuilt from the attributes,
// path cleaned, route chosen, Authenticate, claim headers) called directly,
// beside Verifier.Verify of the same token: the difference is what the
// ext_authz glue costs, before gRPC's own.
func BenchmarkCheck(b *testing.B) {
	idp := authtest.NewIssuer(b)
	tok := idp.Mint(b, authtest.Claims(nil))
	v := authtest.NewVerifier(b, idp, middleware.Config{})
	s, err := extauthz.New(extauthz.Config{
		Verifier:     v,
		Routes:       map[string]middleware.Route{"/admin": {Scopes: []string{"admin"}}, "/items": {Scopes: []string{"read"}}},
		ClaimHeaders: map[string]string{"sub": "x-user", "email": "x-email"},
	})
	if err != nil {
		b.Fatal(err)
	}
	req := checkRequest("GET", "/items/42?page=2", map[string]string{
		"authorization": "Bearer " + tok, "user-agent": "bench", "accept": "*/*", "x-request-id": "abc",
	})
	ctx := context.Background()
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if resp, _ := s.Check(ctx, req); resp.GetOkResponse() == nil {
				b.Fatal(resp)
			}
		}
	})
}
