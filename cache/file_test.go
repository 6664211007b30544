package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"
)

// A JWK Set from a file: loaded at start, a change picked up within one
// FileCheckInterval (a rotation: the new key served, the removed one gone),
// an unchanged file not re-parsed (the generation stays), and a file that
// turns invalid or disappears keeps the last good set while Status says
// what went wrong.
func TestFileSource(t *testing.T) {
	idp := memIdP(t)
	pub := publishedJWKs(t, idp)
	first := kidOf(t, idp, "")
	second := rotate(t, idp)
	both := publishedJWKs(t, idp)
	onlySecond := both[slices.Index(idp.KIDs(), second)]
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "jwks.json")
		write := func(b []byte) {
			t.Helper()
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(jwks(pub...))
		c := newTestCache(t, Config{File: path, Issuer: "https://idp.example", FileCheckInterval: 2 * time.Second})
		synctest.Wait()
		if !c.Ready() {
			t.Fatalf("not ready: %+v", c.Status())
		}
		mustRead(t, c, first)
		gen := c.Generation()

		// Unchanged: read again, not re-parsed.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if c.Generation() != gen {
			t.Fatal("an unchanged file changed the generation")
		}

		// A rotation on disk: the new set within one interval.
		write(jwks(onlySecond))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		mustRead(t, c, second)
		if _, err := c.KeyRead(context.Background(), first); !errors.Is(err, jwkset.ErrKeyNotFound) {
			t.Fatalf("the removed key: %v", err)
		}

		// Broken, then gone: the last good set stays, and Status says so.
		for _, broken := range []func(){func() { write([]byte("{not json")) }, func() { os.Remove(path) }} {
			broken()
			time.Sleep(3 * time.Second)
			synctest.Wait()
			mustRead(t, c, second)
			if st := c.Status(); st.LastError == nil {
				t.Fatalf("a broken file left no error in Status: %+v", st)
			}
		}
	})
}

func TestFileSourceConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"URL and File":      {URL: "https://idp.example/jwks", File: "/x"},
		"negative interval": {File: "/x", FileCheckInterval: -time.Second},
		"no source at all":  {},
	} {
		if _, err := New(context.Background(), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
