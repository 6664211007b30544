package introspect_test

import (
	"context"
	"testing"

	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// BenchmarkIntrospectHit is a cache hit of Introspect alone (the
// middleware's part is BenchmarkCredentialHit's).
func BenchmarkIntrospectHit(b *testing.B) {
	as := jwtgatetest.NewIntrospectionServer(b, jwtgatetest.IntrospectionOptions{})
	ic, err := introspect.New(introspect.Config{Endpoint: as.URL(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ic.Close() })
	tok := as.Issue(b, jwtgatetest.Claims{})
	ctx := context.Background()
	if _, err := ic.Introspect(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ic.Introspect(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
