package cache

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestCacheFileColdStartWhileProviderDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	idp := liveIdP(t)
	a := kidOf(t, idp, "")
	url := idp.JWKSURL()
	c1 := newTestCache(t, Config{URL: url, CacheFile: path, WaitForFirstLoad: true})
	c1.Close()
	var cf cacheFile
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &cf) != nil || cf.Format != fileFormat || cf.URL != url {
		t.Fatalf("cache file not written: %v %s", err, b)
	}

	// The provider is down at the next start: the file serves.
	setJWKS(t, idp, jwtgatetest.Behavior{Status: http.StatusBadGateway})
	cfg := Config{URL: url, CacheFile: path}
	evs := observeRefreshes(&cfg)
	c2 := newTestCache(t, cfg)
	ev := nextRefresh(t, evs)
	if ev.Outcome != OutcomeFromFile || ev.Err == nil || ev.Keys != 1 {
		t.Fatalf("refresh %+v, want from_file carrying the fetch error", ev)
	}
	mustRead(t, c2, a)
	if st := c2.Status(); !st.FromFile || !st.Ready {
		t.Fatalf("status %+v", st)
	}

	// Once the provider is back, a fetch replaces the file's set.
	setJWKS(t, idp, jwtgatetest.Behavior{})
	b2 := rotate(t, idp)
	remove(t, idp, a)
	c3cfg := Config{URL: url, CacheFile: path, WaitForFirstLoad: true}
	c3 := newTestCache(t, c3cfg)
	mustRead(t, c3, b2)
	if _, err := c3.KeyRead(context.Background(), a); err == nil {
		t.Fatal("the file's key a outlived a fetched set without it")
	}
	if c3.Status().FromFile {
		t.Fatal("a fetched set is marked from_file")
	}
}

func TestCacheFileCorruptOrForeignIsIgnored(t *testing.T) {
	dir := t.TempDir()
	idp := liveIdP(t)
	good := jwks(publishedJWKs(t, idp)...)
	setJWKS(t, idp, jwtgatetest.Behavior{Status: 500})
	url := idp.JWKSURL()
	foreign, _ := json.Marshal(cacheFile{Format: fileFormat, Source: "https://other.example.com/jwks", JWKS: good})
	wrongFormat, _ := json.Marshal(cacheFile{Format: "something-else/9", Source: url, JWKS: good})
	for name, content := range map[string][]byte{
		"corrupt":      []byte(`{"format":"jwtgate-jwks-cache/1","jwks":`),
		"foreign":      foreign,
		"wrong format": wrongFormat,
		"not a set":    mustJSON(t, cacheFile{Format: fileFormat, Source: url, JWKS: json.RawMessage(`{"keys":[]}`)}),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			cfg := Config{URL: url, CacheFile: path, Logger: logs.logger()}
			evs := observeRefreshes(&cfg)
			c := newTestCache(t, cfg)
			if ev := nextRefresh(t, evs); ev.Outcome != OutcomeFailed {
				t.Fatalf("outcome %s, want failed", ev.Outcome)
			}
			if c.Ready() {
				t.Fatal("ready from a bad cache file")
			}
			if !strings.Contains(logs.String(), "ignoring the cache file") {
				t.Fatalf("no log line:\n%s", logs.String())
			}
		})
	}
}

func TestCacheFileBeyondMaxStaleIsIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	idp := liveIdP(t)
	good := jwks(publishedJWKs(t, idp)...)
	setJWKS(t, idp, jwtgatetest.Behavior{Status: 500})
	url := idp.JWKSURL()
	now := jwtgatetest.NewClock(time.Time{})
	stale := mustJSON(t, cacheFile{Format: fileFormat, Source: url, URL: url,
		ExpiresAt: now.Now().Add(-DefaultMaxStale - 1), JWKS: good})
	if err := os.WriteFile(path, stale, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: url, CacheFile: path, now: now.Now}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	if ev := nextRefresh(t, evs); ev.Outcome != OutcomeFailed || c.Ready() {
		t.Fatalf("outcome %s ready %v: a file beyond MaxStale must not serve", ev.Outcome, c.Ready())
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
