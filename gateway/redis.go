package gateway

import (
	"net/url"

	"github.com/jwtgate/jwtgate/internal/redisconn"
)

// RedisConfig says where the Redis shared by every replica is (for rate
// limits, the DPoP replay store and budgets). In YAML it is a string,
// "host:port" or a redis:// or rediss:// URL, or a mapping with exactly
// one of addr, cluster and sentinel, and optionally username and
// password_env.
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

	password string // read from PasswordEnv by Validate
}

// RedisSentinel names a master and the sentinels that watch it.
type RedisSentinel struct {
	// Master is the master's name as the sentinels know it. Required.
	Master string `yaml:"master"`
	// Addrs are the sentinels' "host:port". Required.
	Addrs []string `yaml:"addrs"`
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
	}
	return s
}

// checkRedis checks the redis section and reads its password from the
// environment.
func (cfg *Config) checkRedis(p *problems, lookupEnv func(string) (string, bool)) {
	r := &cfg.Redis
	r.password = ""
	if r.IsZero() {
		if r.Username != "" || r.PasswordEnv != "" {
			p.add("redis: username and password_env without an addr, cluster or sentinel")
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
	if r.Sentinel != nil && r.Sentinel.Master == "" && len(r.Sentinel.Addrs) == 0 {
		p.add("redis: sentinel: want master and addrs")
		return
	}
	if _, err := r.settings().Options(); err != nil {
		p.add("redis: %v", err)
	}
}
