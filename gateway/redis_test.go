package gateway

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// Two replicas with -redis share one budget per subject.
func TestRedisLimitsAreSharedAcrossReplicas(t *testing.T) {
	rs := redistest.Start(t)
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: p.Issuer(), Redis: RedisConfig{Addr: rs.Addr},
		Routes: []Route{{Prefix: "/", Upstream: up.URL, Rate: ptr(0.001), Burst: ptr(2)}},
	}
	a, b := startGateway(t, cfg, nil), startGateway(t, cfg, nil)
	a.waitReady(t)
	b.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "shared"})
	for i, c := range []struct {
		g    *gw
		want int
	}{{a, 200}, {b, 200}, {a, 429}, {b, 429}} {
		resp, body := c.g.get(t, "/x", tok)
		if resp.StatusCode != c.want {
			t.Fatalf("request %d: %d, want %d: %s", i+1, resp.StatusCode, c.want, body)
		}
	}
	// Another subject is untouched.
	if resp, _ := b.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "other"})); resp.StatusCode != http.StatusOK {
		t.Fatalf("other subject: %d", resp.StatusCode)
	}
}

// redis: takes a string (host:port or a URL) or a mapping.
func TestRedisConfigShapes(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want RedisConfig
	}{
		{"redis: 10.0.0.1:6379\n", RedisConfig{Addr: "10.0.0.1:6379"}},
		{"redis: rediss://app@redis.internal:6380/2\n", RedisConfig{Addr: "rediss://app@redis.internal:6380/2"}},
		{"redis: {addr: 'redis://app@r:6379', password_env: REDIS_PASSWORD}\n", RedisConfig{Addr: "redis://app@r:6379", PasswordEnv: "REDIS_PASSWORD"}},
		{"redis:\n  cluster: [10.0.0.1:7000, 10.0.0.2:7000]\n  username: app\n", RedisConfig{Cluster: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, Username: "app"}},
		{"redis:\n  sentinel: {master: main, addrs: [10.0.0.1:26379]}\n", RedisConfig{Sentinel: &RedisSentinel{Master: "main", Addrs: []string{"10.0.0.1:26379"}}}},
	} {
		cfg, err := ParseYAML([]byte("issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u'}]\n" + tc.yaml))
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if !reflect.DeepEqual(cfg.Redis, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.yaml, cfg.Redis, tc.want)
		}
		if _, err := cfg.Validate(gwtest.Env(map[string]string{"REDIS_PASSWORD": "pw"})); err != nil {
			t.Errorf("%s: %v", tc.yaml, err)
		}
	}
}

// A password in the config file is refused without being repeated.
func TestRedisPasswordNeverInProblems(t *testing.T) {
	_, err := Config{Issuer: "https://idp", Redis: RedisConfig{Addr: "redis://app:hunter2@r:6379"}}.Validate(gwtest.Env(nil))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

// sharedLimit checks that two gateways with cfg share one limit per
// subject (cfg's route allows two requests).
func sharedLimit(t *testing.T, cfg Config, vars map[string]string) {
	t.Helper()
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg.Listen, cfg.Issuer = "127.0.0.1:0", p.Issuer()
	cfg.Routes = []Route{{Prefix: "/", Upstream: up.URL, Rate: ptr(0.001), Burst: ptr(2)}}
	// Two replicas: a Redis call slower than the limiter's 50 ms budget
	// (a first TLS handshake with a Cluster node under a loaded -race run)
	// falls back to each replica's half of the limit, which answers these
	// four requests as the shared limit does. That Redis did the counting
	// is what the callers check: every subject's key is there.
	cfg.Replicas = 2
	a, b := startGatewayEnv(t, cfg, vars), startGatewayEnv(t, cfg, vars)
	a.waitReady(t)
	b.waitReady(t)
	for _, sub := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		tok := p.Mint(t, jwtgatetest.Claims{Subject: sub})
		for i, c := range []struct {
			g    *gw
			want int
		}{{a, 200}, {b, 200}, {a, 429}, {b, 429}} {
			resp, body := c.g.get(t, "/x", tok)
			if resp.StatusCode != c.want {
				t.Fatalf("%s request %d: %d, want %d: %s", sub, i+1, resp.StatusCode, c.want, body)
			}
		}
	}
}

// redis: {cluster: [one seed]}: the replicas share limits through a
// three-master Cluster, the subjects' keys spread over its masters.
func TestRedisLimitsSharedThroughCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	sharedLimit(t, Config{Redis: RedisConfig{Cluster: c.Addrs[:1]}}, nil)
	used := 0
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr})
		keys, err := cl.Keys(context.Background(), "rate:jwtgate:rl:*").Result()
		_ = cl.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			used++
		}
	}
	if used < 2 {
		t.Fatalf("six subjects' keys on %d of 3 masters", used)
	}
}

// redis: a redis:// URL with an ACL user and a database, the password from
// password_env.
func TestRedisLimitsSharedThroughURL(t *testing.T) {
	rs := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer admin.Close()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "gw", "on", ">s3cret", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	sharedLimit(t, Config{Redis: RedisConfig{Addr: "redis://gw@" + rs.Addr + "/3", PasswordEnv: "REDIS_PW"}},
		map[string]string{"REDIS_PW": "s3cret"})
	db3 := redis.NewClient(&redis.Options{Addr: rs.Addr, DB: 3})
	defer db3.Close()
	n, err := db3.DBSize(ctx).Result()
	if err != nil || n == 0 {
		t.Fatalf("database 3 holds %d keys: %v", n, err)
	}
}

// redis: {sentinel: {master, addrs}}: the replicas share limits through
// the master the sentinels name.
func TestRedisLimitsSharedThroughSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, 1)
	sharedLimit(t, Config{Redis: RedisConfig{Sentinel: &RedisSentinel{Master: s.MasterName, Addrs: s.Addrs}}}, nil)
	master := redis.NewClient(&redis.Options{Addr: s.Master(t).Addr})
	defer master.Close()
	if keys, err := master.Keys(context.Background(), "rate:jwtgate:rl:*").Result(); err != nil || len(keys) != 6 {
		t.Fatalf("the master holds %d limiter keys, want 6: %v", len(keys), err)
	}
}
