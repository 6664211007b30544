package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/redisconn"
)

// RedisConfig says where the Redis shared by every replica is (for rate
// limits, the DPoP replay store and budgets). In YAML it is a string,
// "host:port" or a redis:// or rediss:// URL, or a mapping with exactly
// one of addr, cluster and sentinel, and optionally username,
// password_env and tls.
type RedisConfig struct {
	// Addr is one Redis server: "host:port", or a URL
	// redis://[user@]host:port[/db] (rediss:// for TLS). A password in the
	// URL is refused: name an environment variable in password_env.
	Addr string `yaml:"addr"`
	// Cluster is the seed addresses ("host:port") of a Redis Cluster; the
	// client learns the other nodes and the slots from them.
	Cluster []string `yaml:"cluster"`
	// Sentinel is a master watched by Redis Sentinel; the client asks the
	// sentinels where the master is, and again after a failover.
	Sentinel *RedisSentinel `yaml:"sentinel"`
	// Username is the Redis ACL user. Empty means the URL's user, or none
	// (the default user).
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password
	// (never the config file). Empty means no password.
	PasswordEnv string `yaml:"password_env"`
	// TLS secures every connection, to the one server, every node of a
	// cluster, the sentinels and the nodes they name. Nil means plain TCP,
	// or a rediss:// URL's TLS verified against the system's roots.
	TLS *RedisTLS `yaml:"tls"`

	password         string // read from PasswordEnv by Validate
	sentinelPassword string // read from Sentinel.PasswordEnv by Validate
}

// RedisTLS says how the gateway verifies Redis over TLS and what it shows.
type RedisTLS struct {
	// CAFile is a PEM file of the authorities that sign the servers'
	// certificates. Empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the servers' certificates must hold. Empty
	// means the host of each address (a rediss:// URL's host).
	ServerName string `yaml:"server_name"`
	// CertFile is the gateway's client certificate (PEM), for a Redis that
	// requires one (tls-auth-clients). Empty means none; set with KeyFile.
	CertFile string `yaml:"cert_file"`
	// KeyFile is CertFile's private key (PEM). Empty means none; set with
	// CertFile.
	KeyFile string `yaml:"key_file"`
}

// RedisSentinel names a master and the sentinels that watch it.
type RedisSentinel struct {
	// Master is the master's name as the sentinels know it. Required.
	Master string `yaml:"master"`
	// Addrs are the sentinels' "host:port". Required.
	Addrs []string `yaml:"addrs"`
	// Username is the sentinels' ACL user. Empty means none (the default
	// user).
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the sentinels'
	// password (their requirepass; never the config file), which need not
	// be the data nodes'. Empty means the sentinels ask for none.
	PasswordEnv string `yaml:"password_env"`
}

// UnmarshalYAML takes "redis: host:port" (or a URL) as Addr, and a
// mapping as the keys above.
func (r *RedisConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err == nil {
		*r = RedisConfig{Addr: s}
		return nil
	}
	type plain RedisConfig // without this method, so no recursion
	return unmarshal((*plain)(r))
}

// IsZero reports whether no Redis is configured (limits, replay and
// budgets stay in-process).
func (r RedisConfig) IsZero() bool { return r.settings().IsZero() && r.Sentinel == nil }

func (r RedisConfig) settings() redisconn.Settings {
	s := redisconn.Settings{Addr: r.Addr, Cluster: r.Cluster, Username: r.Username, Password: r.password}
	if r.Sentinel != nil {
		s.SentinelMaster, s.SentinelAddrs = r.Sentinel.Master, r.Sentinel.Addrs
		s.SentinelUsername, s.SentinelPassword = r.Sentinel.Username, r.sentinelPassword
	}
	if r.TLS != nil {
		s.TLS = &redisconn.TLS{CAFile: r.TLS.CAFile, ServerName: r.TLS.ServerName, CertFile: r.TLS.CertFile, KeyFile: r.TLS.KeyFile}
	}
	return s
}

// checkRedis checks the redis section and reads its password from the
// environment.
func (cfg *Config) checkRedis(p *problems, lookupEnv func(string) (string, bool)) {
	r := &cfg.Redis
	r.password, r.sentinelPassword = "", ""
	if r.IsZero() {
		if r.Username != "" || r.PasswordEnv != "" || r.TLS != nil {
			p.add("redis: username, password_env or tls without an addr, cluster or sentinel")
		}
		return
	}
	if u, err := url.Parse(r.Addr); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			// Not quoted: the problem would show the password.
			p.add("redis: the URL holds a password: name an environment variable in password_env instead")
			return
		}
	}
	if r.PasswordEnv != "" {
		v, ok := lookupEnv(r.PasswordEnv)
		if !ok || v == "" {
			p.add("redis: password_env: environment variable %s is not set", r.PasswordEnv)
		}
		r.password = v
	}
	if r.Sentinel != nil && r.Sentinel.PasswordEnv != "" {
		v, ok := lookupEnv(r.Sentinel.PasswordEnv)
		if !ok || v == "" {
			p.add("redis: sentinel: password_env: environment variable %s is not set", r.Sentinel.PasswordEnv)
		}
		r.sentinelPassword = v
	}
	if r.Sentinel != nil && r.Sentinel.Master == "" && len(r.Sentinel.Addrs) == 0 {
		p.add("redis: sentinel: want master and addrs")
		return
	}
	if _, err := r.settings().Options(); err != nil {
		p.add("redis: %v", err)
	}
}

// ErrRedisRefused is New's error when Redis, or a sentinel, refuses the
// gateway at start: a wrong or missing password (of the data nodes or of
// the sentinels), or a TLS certificate that does not verify, either way.
// Unlike Redis being down, which the stores' failure policies ride out,
// this does not mend itself, so the gateway does not start with it.
var ErrRedisRefused = errors.New("gateway: redis refused the gateway")

// redisCheckTimeout bounds New's look at Redis.
const redisCheckTimeout = 3 * time.Second

// checkRedis asks a new Redis client (through the sentinels, for
// Sentinel; every node, for a cluster) for a PING, once, when it is made.
// A refusal of the gateway's credentials or certificates is
// ErrRedisRefused; Redis not answering is logged only: the stores' failure
// policies are for that.
func (gen *generation) checkRedis(ctx context.Context) error {
	if !gen.redisNew {
		return nil // none, or the running one a reload kept: asked when it was made
	}
	ctx, cancel := context.WithTimeout(ctx, redisCheckTimeout)
	defer cancel()
	var err error
	if cc, ok := gen.redis.(*redis.ClusterClient); ok {
		// Every node: each may refuse on its own, and the connections
		// made here are ready for the first requests.
		err = cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	} else {
		err = gen.redis.Ping(ctx).Err()
	}
	switch {
	case err == nil:
		return nil
	case refused(err):
		return fmt.Errorf("%w (%s): %w", ErrRedisRefused, gen.cfg.Redis.settings().Kind(), err)
	}
	gen.g.log.Warn("redis does not answer at start; the stores' failure policies decide until it does",
		"redis", gen.cfg.Redis.settings().Kind(), "err", err)
	return nil
}

// refused reports whether err is Redis saying no to the gateway's
// credentials, or TLS failing either way, rather than Redis being away.
func refused(err error) bool {
	if redis.IsAuthError(err) {
		return true
	}
	// "ERR AUTH <password> called without any password configured", "ERR
	// invalid password" (older servers): Redis's own answers naming AUTH.
	var re redis.Error
	if errors.As(err, &re) && strings.Contains(re.Error(), "AUTH") {
		return true
	}
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		op        *net.OpError
	)
	// The server's TLS alert (a certificate it wants and did not get, or
	// does not trust) comes as a "remote error".
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &record) || (errors.As(err, &op) && op.Op == "remote error")
}
