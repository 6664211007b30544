package jwtgatetest_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// With Now: time.Now, a token minted inside a synctest bubble is dated by
// the bubble's fake clock, so expiry is tested without waiting. The issuer
// (its server's goroutines) lives outside the bubble.
func TestClockInSynctestBubble(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, Now: time.Now, TokenTTL: time.Hour})
	keys := idp.Keys(t)
	synctest.Test(t, func(t *testing.T) {
		v, err := middleware.New(middleware.Config{Keys: keys, Issuers: []string{idp.Issuer()}, Audiences: []string{"api"},
			Leeway: -1, TokenCacheSize: -1, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		tok := idp.Mint(t, jwtgatetest.Claims{})
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour) // fake time: returns at once
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, middleware.ErrTokenExpired) {
			t.Fatalf("an hour later: %v, want expired", err)
		}
	})
}
