package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// newWithRedis runs New with r as the redis section (and a route that
// limits, so that a store uses it) and returns its error.
func newWithRedis(t *testing.T, r RedisConfig, vars map[string]string) error {
	t.Helper()
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: p.Issuer(), Redis: r,
		Routes: []Route{{Prefix: "/", Upstream: up.URL, Rate: ptr(1.0), Burst: ptr(1)}},
	}
	g, err := New(context.Background(), cfg, Options{Logger: quiet, LookupEnv: gwtest.Env(vars)})
	if err == nil {
		g.Close()
	}
	return err
}

// wantRefused fails unless err is ErrRedisRefused, without the secret.
func wantRefused(t *testing.T, err error, secret string) {
	t.Helper()
	if !errors.Is(err, ErrRedisRefused) {
		t.Fatalf("err = %v, want ErrRedisRefused", err)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the password: %v", err)
	}
}

// Sentinels that require a password and serve TLS only, data nodes on TLS
// too: with redis.sentinel.password_env and redis.tls the replicas share
// limits through the master; a missing or wrong sentinel password, or TLS
// that does not verify either way, stops New with ErrRedisRefused.
func TestRedisSentinelWithPasswordOverTLS(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	s := redistest.StartSentinelWith(t, 1, redistest.Options{TLS: files, SentinelPassword: "sentinel-pw"})
	clientTLS := &RedisTLS{CAFile: files.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}
	good := func() RedisConfig {
		return RedisConfig{
			Sentinel: &RedisSentinel{Master: s.MasterName, Addrs: s.Addrs, PasswordEnv: "SENTINEL_PW"},
			TLS:      &RedisTLS{CAFile: clientTLS.CAFile, CertFile: clientTLS.CertFile, KeyFile: clientTLS.KeyFile},
		}
	}
	vars := map[string]string{"SENTINEL_PW": "sentinel-pw"}
	sharedLimit(t, Config{Redis: good()}, vars)
	if keys := s.Client(t).Keys(context.Background(), "rate:jwtgate:rl:*").Val(); len(keys) != 6 {
		t.Fatalf("the master holds %d limiter keys, want 6", len(keys))
	}

	t.Run("no sentinel password", func(t *testing.T) {
		r := good()
		r.Sentinel.PasswordEnv = ""
		wantRefused(t, newWithRedis(t, r, nil), "")
	})
	t.Run("wrong sentinel password", func(t *testing.T) {
		wantRefused(t, newWithRedis(t, good(), map[string]string{"SENTINEL_PW": "guess"}), "guess")
	})
	t.Run("the data nodes' password is not the sentinels'", func(t *testing.T) {
		r := good()
		r.Sentinel.PasswordEnv, r.PasswordEnv = "", "SENTINEL_PW"
		if err := newWithRedis(t, r, vars); err == nil {
			t.Fatal("the sentinels answered without their password")
		}
	})
	t.Run("unset variable", func(t *testing.T) {
		err := newWithRedis(t, good(), nil)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "SENTINEL_PW is not set") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("system roots", func(t *testing.T) {
		r := good()
		r.TLS.CAFile = ""
		wantRefused(t, newWithRedis(t, r, vars), "sentinel-pw")
	})
	t.Run("no client certificate", func(t *testing.T) {
		r := good()
		r.TLS.CertFile, r.TLS.KeyFile = "", ""
		wantRefused(t, newWithRedis(t, r, vars), "sentinel-pw")
	})
	t.Run("wrong server name", func(t *testing.T) {
		r := good()
		r.TLS.ServerName = "redis.elsewhere"
		wantRefused(t, newWithRedis(t, r, vars), "")
	})
}

// A three-master Cluster on TLS only: redis.tls reaches every node the
// client learns from the seed.
func TestRedisClusterOverTLS(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	c := redistest.StartClusterWith(t, redistest.Options{TLS: files})
	sharedLimit(t, Config{Redis: RedisConfig{Cluster: c.Addrs[:1],
		TLS: &RedisTLS{CAFile: files.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}}}, nil)
	used := 0
	for _, n := range c.Nodes {
		redistest.Scan(t, redis.NewClient(n.ClientOptions()), "rate:jwtgate:rl:*", func(string) { used++ })
	}
	if used != 6 {
		t.Fatalf("%d limiter keys over the cluster, want 6", used)
	}
	// Without the CA: refused at New.
	wantRefused(t, newWithRedis(t, RedisConfig{Cluster: c.Addrs[:1], TLS: &RedisTLS{CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}}, nil), "")
}

// One server on TLS only, as host:port with redis.tls and as a rediss://
// URL whose CA is redis.tls.ca_file. A server down at start is not a
// refusal.
func TestRedisOneServerOverTLS(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	srv := redistest.StartWith(t, redistest.Options{TLS: files})
	tlsFiles := func() *RedisTLS {
		return &RedisTLS{CAFile: files.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}
	}
	sharedLimit(t, Config{Redis: RedisConfig{Addr: srv.Addr, TLS: tlsFiles()}}, nil)
	sharedLimit(t, Config{Redis: RedisConfig{Addr: "rediss://" + srv.Addr + "/1", TLS: tlsFiles()}}, nil)

	plain := redistest.Start(t)
	// Redis away is not a refusal: the stores' failure policies ride it out.
	plain.Stop()
	if err := newWithRedis(t, RedisConfig{Addr: plain.Addr}, nil); err != nil {
		t.Fatalf("Redis down at start: %v", err)
	}
}

// The new keys in YAML, and what is wrong with them at load.
func TestRedisSentinelPasswordAndTLSConfig(t *testing.T) {
	const base = "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u'}]\n"
	cfg, err := ParseYAML([]byte(base + "redis:\n  sentinel: {master: m, addrs: [10.0.0.1:26379], username: sen, password_env: SEN_PW}\n" +
		"  tls: {ca_file: ca.pem, server_name: redis.internal, cert_file: c.pem, key_file: k.pem}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := RedisConfig{
		Sentinel: &RedisSentinel{Master: "m", Addrs: []string{"10.0.0.1:26379"}, Username: "sen", PasswordEnv: "SEN_PW"},
		TLS:      &RedisTLS{CAFile: "ca.pem", ServerName: "redis.internal", CertFile: "c.pem", KeyFile: "k.pem"},
	}
	if !reflect.DeepEqual(cfg.Redis, want) {
		t.Fatalf("%+v, want %+v", cfg.Redis, want)
	}
	for _, tc := range []struct{ yaml, problem string }{
		{"redis: {sentinel: {master: m, addrs: ['h:1'], password_env: SEN_PW}}\n", "SEN_PW is not set"},
		{"redis: {tls: {}}\n", "tls without an addr"},
		{"redis: {addr: 'redis://h:1', tls: {}}\n", "write rediss://"},
		{"redis: {addr: 'h:1', tls: {ca_file: /nonexistent/ca.pem}}\n", "ca_file"},
		{"redis: {addr: 'h:1', tls: {cert_file: c.pem}}\n", "go together"},
	} {
		cfg, err := ParseYAML([]byte(base + tc.yaml))
		if err == nil {
			_, err = cfg.Validate(gwtest.Env(nil))
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.problem)
		}
	}
}

// copyFile writes src's content over dst (in place, as a certificate
// rotation by a secret mount's sync or a renewal tool does).
func copyFile(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The Redis client's certificate, key and CA are named by path in the
// config: a reload with the same files keeps the client, one whose files
// were rotated in place (same paths, new contents) makes a client that
// shows the new certificate, and its stores follow it.
func TestReloadRereadsRotatedRedisTLSFiles(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	srv := redistest.StartWith(t, redistest.Options{TLS: files})
	dir := t.TempDir()
	own := &RedisTLS{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}
	copyFile(t, own.CAFile, files.CAFile)
	copyFile(t, own.CertFile, files.ClientCertFile)
	copyFile(t, own.KeyFile, files.ClientKeyFile)

	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := reloadConfig(p, p.JWKSURL(), up.URL, "/limited/")
	cfg.Redis = RedisConfig{Addr: srv.Addr, TLS: own}
	cfg.Rate, cfg.Burst = 100, 100
	var last ReloadEvent
	g := startGatewayOpts(t, cfg, Options{OnReload: func(e ReloadEvent) { last = e }})
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "u"})
	if resp, body := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	client := g.cur.Load().redis

	if err := g.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if g.cur.Load().redis != client || !slices.Contains(last.Kept, "redis client") {
		t.Fatalf("unchanged files: kept %q, started %q", last.Kept, last.Started)
	}

	cert, key, der := files.NewClientCert(t)
	copyFile(t, own.CertFile, cert)
	copyFile(t, own.KeyFile, key)
	if err := g.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	rotated := g.cur.Load().redis
	if rotated == client || !slices.Contains(last.Started, "redis client") || !slices.Contains(last.Started, `rate limit "/limited/"`) {
		t.Fatalf("rotated files: kept %q, started %q", last.Kept, last.Started)
	}
	c, ok := rotated.(*redis.Client)
	if !ok {
		t.Fatalf("client %T", rotated)
	}
	if shown := c.Options().TLSConfig.Certificates; len(shown) != 1 || !bytes.Equal(shown[0].Certificate[0], der) {
		t.Fatal("the new client does not show the rotated certificate")
	}
	if resp, body := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the rotation: %d %s", resp.StatusCode, body)
	}
	if err := client.Ping(context.Background()).Err(); err == nil {
		t.Fatal("the old Redis client still open after its last config was replaced")
	}
}
