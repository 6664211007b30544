package redisapikey_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/apikey/redisapikey"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Keys added and revoked in Redis are seen by the store at once; Redis
// never holds the key; Redis down is 503-class (ErrUnavailable).
func TestRedisSource(t *testing.T) {
	srv := redistest.Start(t)
	src, err := redisapikey.New(redisapikey.Config{Addr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	keys, err := apikey.New(apikey.Config{Source: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	ctx := context.Background()
	key, rec, err := apikey.Mint("jg_", apikey.Record{Subject: "svc", Scopes: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LookupAPIKey(ctx, key); !errors.Is(err, middleware.ErrTokenInactive) {
		t.Fatalf("before Put: %v", err)
	}
	if err := src.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	k, err := keys.LookupAPIKey(ctx, key)
	if err != nil || k.Subject != "svc" {
		t.Fatalf("after Put: %v %v", k, err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	all, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, rk := range all {
		v, _ := c.Get(ctx, rk).Result()
		if rk != src.Key(apikey.Sum(key)) || contains(rk+v, key[3:]) {
			t.Errorf("redis holds %q = %q", rk, v)
		}
	}
	if err := c.Del(ctx, src.Key(apikey.Sum(key))).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LookupAPIKey(ctx, key); !errors.Is(err, middleware.ErrTokenInactive) {
		t.Errorf("after DEL: %v", err)
	}
	if err := c.Set(ctx, src.Key(apikey.Sum(key)), "junk", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LookupAPIKey(ctx, key); !errors.Is(err, apikey.ErrUnavailable) {
		t.Errorf("junk value: %v", err)
	}
	srv.Stop()
	if _, err := keys.LookupAPIKey(ctx, key); !errors.Is(err, apikey.ErrUnavailable) || contains(err.Error(), key) {
		t.Errorf("redis down: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A repeated key decodes once: while Redis holds the same bytes for it
// the store hands out the same *middleware.APIKey (whose claims the
// Verifier builds once), yet Redis is asked every time, so a SET of
// another record and a DEL are each seen by the very next look-up.
func TestRedisRecordDecodedOnceAndNeverServedStale(t *testing.T) {
	srv := redistest.Start(t)
	src, err := redisapikey.New(redisapikey.Config{Addr: srv.Addr, Timeout: 5 * time.Second}) // -race on a busy machine: not the 50ms a look-up gets in production
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	keys, err := apikey.New(apikey.Config{Source: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	ctx := context.Background()
	key, rec, err := apikey.Mint("jg_", apikey.Record{Subject: "svc", Scopes: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	first, err := keys.LookupAPIKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	again, err := keys.LookupAPIKey(ctx, key)
	if err != nil || again != first {
		t.Fatalf("the same stored record decoded anew: %p then %p (%v)", first, again, err)
	}

	rec.Scopes = []string{"embed"}
	if err := src.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	changed, err := keys.LookupAPIKey(ctx, key)
	if err != nil || changed == first || len(changed.Scopes) != 1 || changed.Scopes[0] != "embed" {
		t.Fatalf("after SET of another record: %+v %v", changed, err)
	}

	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	if err := c.Del(ctx, src.Key(apikey.Sum(key))).Err(); err != nil {
		t.Fatal(err)
	}
	if k, err := keys.LookupAPIKey(ctx, key); !errors.Is(err, middleware.ErrTokenInactive) {
		t.Fatalf("after DEL: %+v %v", k, err)
	}
	// Put back as it was: decoded again, not served from before the DEL.
	if err := src.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if back, err := keys.LookupAPIKey(ctx, key); err != nil || back == changed {
		t.Fatalf("after DEL and SET: %p (was %p) %v", back, changed, err)
	}
}
