package apikey_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/metrics"
	"github.com/jwtgate/jwtgate/middleware"
)

var quiet = slog.New(slog.DiscardHandler)

func newStore(t *testing.T, cfg apikey.Config) *apikey.Store {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := apikey.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func route(t *testing.T, s middleware.APIKeyStore, rt middleware.Route, mut ...func(*middleware.Config)) *middleware.Verifier {
	t.Helper()
	cfg := middleware.Config{Keys: jwkset.NewMemoryStorage(), Issuers: []string{"https://idp.test"}, Audiences: []string{"api"},
		APIKeyHeader: "X-Api-Key", Logger: quiet}
	for _, m := range mut {
		m(&cfg)
	}
	v, err := middleware.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt.APIKeys = s
	return v.With(rt)
}

type answer struct {
	status int
	body   string
	claims *middleware.Claims
}

func send(v *middleware.Verifier, header, value string) answer {
	var c *middleware.Claims
	h := v.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { c, _ = middleware.ClaimsFromContext(r.Context()) }))
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set(header, value)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return answer{w.Code, w.Body.String(), c}
}

func TestKeyFromFileAccepted(t *testing.T) {
	key, stored := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Prefix: "jg_", ID: "k1", Subject: "svc", Scopes: []string{"chat"}, Tier: "gold"})
	s := newStore(t, apikey.Config{File: jwtgatetest.APIKeyFile(t, stored), Prefix: "jg_"})
	v := route(t, s, middleware.Route{Scopes: []string{"chat"}}, func(c *middleware.Config) { c.RateLimit.TierClaim = "plan" })
	for _, how := range [][2]string{{"X-Api-Key", key}, {"Authorization", "Bearer " + key}} {
		a := send(v, how[0], how[1])
		if a.status != 200 {
			t.Fatalf("%s: %d %s", how[0], a.status, a.body)
		}
		if plan, _ := a.claims.String("plan"); a.claims.Kind() != middleware.CredentialAPIKey || a.claims.Subject != "svc" || plan != "gold" {
			t.Errorf("claims %+v", a.claims)
		}
		if id, _ := a.claims.String("key_id"); id != "k1" {
			t.Errorf("key_id %q", id)
		}
	}
}

// Done when: an API key that differs in its last byte is refused.
func TestKeyDifferingInLastByteRefused(t *testing.T) {
	key, stored := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Prefix: "jg_", Subject: "svc"})
	s := newStore(t, apikey.Config{File: jwtgatetest.APIKeyFile(t, stored), Prefix: "jg_"})
	last := key[len(key)-1]
	other := byte('A')
	if last == 'A' {
		other = 'B'
	}
	near := key[:len(key)-1] + string(other)
	if _, err := s.LookupAPIKey(context.Background(), near); !errors.Is(err, middleware.ErrTokenInactive) {
		t.Errorf("near key: %v", err)
	}
	for _, k := range []string{near, key + "x", key[:len(key)-1], strings.ToUpper(key)} {
		if a := send(route(t, s, middleware.Route{}), "X-Api-Key", k); a.status != 401 || !strings.Contains(a.body, "api key not accepted") {
			t.Errorf("%d %s", a.status, a.body)
		}
	}
	if a := send(route(t, s, middleware.Route{}), "X-Api-Key", key); a.status != 200 {
		t.Errorf("the key itself: %d", a.status)
	}
}

// Done when: a key revoked by a change of the file is refused once the
// watcher has seen the change.
func TestRevokedKeyAfterFileChangeRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		keep, keepLine := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Subject: "keep"})
		gone, goneLine := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Subject: "gone"})
		file := jwtgatetest.APIKeyFile(t, keepLine, goneLine)
		reloads := make(chan apikey.ReloadEvent, 4)
		s, err := apikey.New(apikey.Config{File: file, ReloadInterval: time.Second, Logger: quiet,
			OnReload: func(e apikey.ReloadEvent) { reloads <- e }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		v := route(t, s, middleware.Route{})
		if a := send(v, "X-Api-Key", gone); a.status != 200 {
			t.Fatalf("before: %d", a.status)
		}
		jwtgatetest.WriteAPIKeyFile(t, file, keepLine)
		time.Sleep(time.Second) // virtual: the watcher's tick
		synctest.Wait()
		if e := <-reloads; e.Err != nil || e.Keys != 1 {
			t.Fatalf("reload %+v", e)
		}
		if a := send(v, "X-Api-Key", gone); a.status != 401 {
			t.Errorf("revoked key: %d %s", a.status, a.body)
		}
		if a := send(v, "X-Api-Key", keep); a.status != 200 {
			t.Errorf("kept key: %d", a.status)
		}
		// An unchanged file is not reloaded again.
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if len(reloads) != 0 {
			t.Errorf("%d reloads of an unchanged file", len(reloads))
		}
	})
}

// A file that no longer parses keeps the last good keys.
func TestBadFileKeepsLastGoodKeys(t *testing.T) {
	key, line := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{})
	file := jwtgatetest.APIKeyFile(t, line)
	s := newStore(t, apikey.Config{File: file, ReloadInterval: time.Hour})
	jwtgatetest.WriteAPIKeyFile(t, file, `{"hash":"md5:abc","sub":"x"}`)
	if err := s.Reload(); !errors.Is(err, apikey.ErrInvalidRecord) {
		t.Errorf("reload: %v", err)
	}
	if _, err := s.LookupAPIKey(context.Background(), key); err != nil {
		t.Errorf("last good key: %v", err)
	}
}

func TestExpiredKeyRefused(t *testing.T) {
	key, line := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Expires: time.Now().Add(-time.Minute)})
	s := newStore(t, apikey.Config{File: jwtgatetest.APIKeyFile(t, line)})
	if a := send(route(t, s, middleware.Route{}), "X-Api-Key", key); a.status != 401 || !strings.Contains(a.body, "token expired") {
		t.Errorf("%d %s", a.status, a.body)
	}
}

func TestKeysFromEnvAndRecords(t *testing.T) {
	envKey, envLine := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Subject: "from-env"})
	t.Setenv("JWTGATE_TEST_KEYS", "# comment\n"+envLine+"\n")
	codeKey, rec, err := apikey.Mint("sk-", apikey.Record{Subject: "from-code"})
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, apikey.Config{Env: "JWTGATE_TEST_KEYS", Records: []apikey.Record{rec}})
	for key, sub := range map[string]string{envKey: "from-env", codeKey: "from-code"} {
		k, err := s.LookupAPIKey(context.Background(), key)
		if err != nil || k.Subject != sub {
			t.Errorf("%s: %v %v", sub, k, err)
		}
	}
}

// fakeSource is a remote store by hash.
type fakeSource struct {
	recs map[[32]byte]*apikey.Record
	err  error
}

func (f *fakeSource) LookupHash(_ context.Context, sum [32]byte) (*apikey.Record, error) {
	if f.err != nil {
		return nil, f.err
	}
	if r, ok := f.recs[sum]; ok {
		return r, nil
	}
	return nil, apikey.ErrNotFound
}

func TestSourceAnswersAndFailsClosed(t *testing.T) {
	key, rec, err := apikey.Mint("", apikey.Record{Subject: "remote"})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{recs: map[[32]byte]*apikey.Record{apikey.Sum(key): &rec}}
	s := newStore(t, apikey.Config{Source: src})
	v := route(t, s, middleware.Route{})
	if a := send(v, "X-Api-Key", key); a.status != 200 || a.claims.Subject != "remote" {
		t.Errorf("remote key: %+v", a)
	}
	if a := send(v, "X-Api-Key", "nope"); a.status != 401 {
		t.Errorf("unknown: %d", a.status)
	}
	src.err = errors.New("redis: connection refused")
	if a := send(v, "X-Api-Key", key); a.status != 503 || strings.Contains(a.body, "redis") {
		t.Errorf("source down: %d %s", a.status, a.body)
	}
}

// Done when: a key never appears in a log line, a metric or an error body.
func TestKeyNeverInLogsMetricsOrErrorBodies(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	key, line := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Prefix: "jg_", Scopes: []string{"chat"}})
	file := jwtgatetest.APIKeyFile(t, line)
	s := newStore(t, apikey.Config{File: file, Prefix: "jg_", Logger: logger})
	v := route(t, s, middleware.Route{Scopes: []string{"admin"}}, func(c *middleware.Config) { c.Logger, c.OnVerify = logger, m.OnVerify })
	var bodies []string
	for _, k := range []string{key, key + "x", "jg_" + strings.Repeat("z", 600)} {
		for _, how := range [][2]string{{"X-Api-Key", k}, {"Authorization", "Bearer " + k}} {
			bodies = append(bodies, send(v, how[0], how[1]).body)
		}
	}
	jwtgatetest.WriteAPIKeyFile(t, file, "garbage "+key)
	_ = s.Reload()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exposition strings.Builder
	for _, mf := range mfs {
		exposition.WriteString(mf.String())
	}
	if !strings.Contains(exposition.String(), "api_key") {
		t.Errorf("no api_key series: %s", exposition.String())
	}
	secret := key[3:] // the random part
	for what, text := range map[string]string{"logs": logs.String(), "metrics": exposition.String(), "bodies": strings.Join(bodies, "\n")} {
		if strings.Contains(text, secret) {
			t.Errorf("%s contain the key: %s", what, text)
		}
	}
	if !strings.Contains(logs.String(), "not reloaded") {
		t.Errorf("the failed reload was not logged: %s", logs.String())
	}
}

func TestConfigRefused(t *testing.T) {
	bad := jwtgatetest.APIKeyFile(t, `{"hash":"sha256:00","sub":"x"}`)
	for name, cfg := range map[string]apikey.Config{
		"no source":       {},
		"missing file":    {File: "/nonexistent/keys.jsonl"},
		"bad file":        {File: bad},
		"unset env":       {Env: "JWTGATE_TEST_UNSET_KEYS"},
		"bad prefix":      {Records: []apikey.Record{}, Prefix: "a b", Source: &fakeSource{}},
		"negative reload": {Source: &fakeSource{}, ReloadInterval: -1},
		"bad record":      {Records: []apikey.Record{{Hash: apikey.Hash("k")}}},
	} {
		if _, err := apikey.New(cfg); !errors.Is(err, apikey.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseRecords(t *testing.T) {
	_, rec, _ := apikey.Mint("", apikey.Record{Subject: "a", Scopes: []string{"x"}, Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	line, err := rec.MarshalLine()
	if err != nil {
		t.Fatal(err)
	}
	got, err := apikey.ParseRecords(bytes.NewReader(append([]byte("\n# c\n"), line...)))
	if err != nil || len(got) != 1 || got[0].Subject != "a" || !got[0].Expires.Equal(rec.Expires) {
		t.Fatalf("%+v %v", got, err)
	}
	for name, s := range map[string]string{
		"duplicate":     string(line) + string(line),
		"unknown field": `{"hash":"` + rec.Hash + `","sub":"a","admin":true}`,
		"upper hex":     `{"hash":"` + strings.ToUpper(rec.Hash[7:]) + `","sub":"a"}`,
		"two objects":   `{"hash":"` + rec.Hash + `","sub":"a"} {}`,
		"no sub":        `{"hash":"` + rec.Hash + `"}`,
		"scope space":   `{"hash":"` + rec.Hash + `","sub":"a","scopes":["a b"]}`,
	} {
		if _, err := apikey.ParseRecords(strings.NewReader(s)); !errors.Is(err, apikey.ErrInvalidRecord) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A key's size is checked once, where the Verifier reads it (MaxTokenSize):
// a registered key longer than the store's old 512 bytes works, and one
// over MaxTokenSize is refused before the store is asked.
func TestKeySizeCheckedWhereItComesIn(t *testing.T) {
	long := "jg_" + strings.Repeat("k", 700)
	s := &countingStore{Store: newStore(t, apikey.Config{Records: []apikey.Record{{Hash: apikey.Hash(long), Subject: "long"}}})}
	v := route(t, s, middleware.Route{})
	if a := send(v, "X-Api-Key", long); a.status != http.StatusOK || a.claims.Subject != "long" {
		t.Fatalf("a 703-byte key: %d %s", a.status, a.body)
	}
	huge := "jg_" + strings.Repeat("k", middleware.DefaultMaxTokenSize)
	before := s.calls.Load()
	if a := send(v, "X-Api-Key", huge); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "too large") {
		t.Fatalf("a key over MaxTokenSize: %d %s", a.status, a.body)
	}
	if _, err := v.Verify(context.Background(), huge); !errors.Is(err, middleware.ErrTokenMalformed) {
		t.Fatalf("Verify of a key over MaxTokenSize: %v", err)
	}
	if n := s.calls.Load() - before; n != 0 {
		t.Fatalf("a key over MaxTokenSize reached the store %d times", n)
	}
}
