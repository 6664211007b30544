package middleware

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestClaimsKeepTheVerifiedToken: package exchange trades Claims.Token,
// so it must be the token verified, on a cache hit too, and a logged
// Claims must not show it.
func TestClaimsKeepTheVerifiedToken(t *testing.T) {
	k := keys(t)
	v, _ := New(baseConfig(memKeys(t)))
	tok := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, goodClaims())
	other := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, with(goodClaims(), "sub", "user-2"))
	for range 3 { // cold, then (doorkeeper off) cache hits
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.Token() != tok {
			t.Fatal("Claims.Token is not the verified token")
		}
		c2, err := v.Verify(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		if c2.Token() != other {
			t.Fatal("Claims.Token of the second token is not that token")
		}
	}
	if (&Claims{}).Token() != "" {
		t.Fatal("a Claims not made by a Verifier has a token")
	}
	c, _ := v.Verify(context.Background(), tok)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("claims", "c", c)
	if strings.Contains(buf.String(), tok) || !strings.Contains(buf.String(), "c.sub=user-1") {
		t.Fatalf("logged claims: %s", buf.String())
	}
}
