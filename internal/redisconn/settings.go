package redisconn

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/goredislog"
)

// Settings say where Redis is, in one of three shapes: Addr (one server,
// "host:port" or a redis:// or rediss:// URL), Cluster (seed addresses of
// a Redis Cluster) or SentinelMaster with SentinelAddrs (a master and its
// replicas watched by Sentinel). The zero value means no Redis.
type Settings struct {
	// Addr is "host:port", or a URL: redis://[user@]host:port[/db], or
	// rediss:// for TLS. Empty unless neither Cluster nor Sentinel is set.
	Addr string
	// Cluster is the seed addresses ("host:port") of a Redis Cluster; the
	// client learns the other nodes and the slots from them.
	Cluster []string
	// SentinelMaster is the master's name as the sentinels know it.
	SentinelMaster string
	// SentinelAddrs are the sentinels' "host:port".
	SentinelAddrs []string
	// Username is the ACL user for the data nodes; empty keeps a URL's
	// (or none: the default user).
	Username string
	// Password is the data nodes' password (from the environment, never a
	// file); empty keeps a URL's (or none).
	Password string
	// SentinelUsername and SentinelPassword are what the sentinels ask
	// for (their ACL user, their requirepass), which need not be the data
	// nodes'. Empty: none. Only with SentinelMaster.
	SentinelUsername, SentinelPassword string
	// TLS, when not nil, is how every connection is secured: to the one
	// server, to every node of a cluster, to the sentinels and the nodes
	// they name. Nil means plain TCP, or a rediss:// URL's TLS (verified
	// against the system's roots).
	TLS *TLS
}

// TLS says how to verify Redis and what to show it. Every field is
// optional.
type TLS struct {
	// CAFile is a PEM file of the authorities that sign the servers'
	// certificates. Empty means the system's roots.
	CAFile string
	// ServerName is the name the servers' certificates must hold. Empty
	// means each address's host (a rediss:// URL's host).
	ServerName string
	// CertFile and KeyFile are a client certificate and its key (PEM), for
	// servers that require one (tls-auth-clients). Both or neither.
	CertFile, KeyFile string
}

// Config loads the files and returns the client TLS configuration (TLS
// 1.2 at least).
func (t *TLS) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s: no PEM certificate in it", t.CAFile)
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		return nil, errors.New("tls: cert_file and key_file go together")
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: cert_file and key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Digest is the SHA-256 of the files' contents, each named by its role
// and length-prefixed so that no two sets of contents run together into
// the same bytes. A file that cannot be read counts by its error text: it
// differs from any content, and Config reports it. Settings name their
// files by path, so a certificate rotated in place leaves them equal;
// whoever keeps a client while its settings stay the same adds this to
// what it compares.
func (t *TLS) Digest() [sha256.Size]byte {
	h := sha256.New()
	for _, f := range [...]struct{ role, name string }{{"ca", t.CAFile}, {"cert", t.CertFile}, {"key", t.KeyFile}} {
		var b []byte
		if f.name != "" {
			var err error
			if b, err = os.ReadFile(f.name); err != nil {
				b = []byte("error " + err.Error())
			}
		}
		fmt.Fprintf(h, "%s %d\n", f.role, len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// IsZero reports whether s names no Redis at all.
func (s Settings) IsZero() bool {
	return s.Addr == "" && len(s.Cluster) == 0 && s.SentinelMaster == "" && len(s.SentinelAddrs) == 0
}

// Kind names the shape: "addr", "url", "cluster", "sentinel", or "" for
// the zero value.
func (s Settings) Kind() string {
	switch {
	case len(s.Cluster) > 0:
		return "cluster"
	case s.SentinelMaster != "" || len(s.SentinelAddrs) > 0:
		return "sentinel"
	case isURL(s.Addr):
		return "url"
	case s.Addr != "":
		return "addr"
	}
	return ""
}

func isURL(a string) bool {
	return strings.HasPrefix(a, "redis://") || strings.HasPrefix(a, "rediss://")
}

// Options turns s into go-redis universal options with the time-outs every
// store wants (see Tune); redis.NewUniversalClient makes the right kind of
// client from them (IsClusterMode is set for a cluster of one seed). The
// error says what is wrong with s, without any password.
func (s Settings) Options() (*redis.UniversalOptions, error) {
	shapes := 0
	for _, set := range []bool{s.Addr != "", len(s.Cluster) > 0, s.SentinelMaster != "" || len(s.SentinelAddrs) > 0} {
		if set {
			shapes++
		}
	}
	switch {
	case shapes == 0:
		return nil, errors.New("no address, cluster or sentinel")
	case shapes > 1:
		return nil, errors.New("want one of an address, a cluster or a sentinel, not several")
	}
	o := &redis.UniversalOptions{}
	switch s.Kind() {
	case "addr":
		if err := hostPort(s.Addr); err != nil {
			return nil, err
		}
		o.Addrs = []string{s.Addr}
	case "url":
		u, err := redis.ParseURL(s.Addr)
		if err != nil {
			// ParseURL's error may quote the URL, password and all.
			return nil, errors.New("not a valid redis:// or rediss:// URL (redis://[user@]host:port[/db])")
		}
		o.Addrs = []string{u.Addr}
		o.Username, o.Password, o.DB, o.TLSConfig = u.Username, u.Password, u.DB, u.TLSConfig
	case "cluster":
		for _, a := range s.Cluster {
			if err := hostPort(a); err != nil {
				return nil, fmt.Errorf("cluster: %w", err)
			}
		}
		o.Addrs = append([]string(nil), s.Cluster...)
		o.IsClusterMode = true
	case "sentinel":
		if s.SentinelMaster == "" {
			return nil, errors.New("sentinel: no master name")
		}
		if len(s.SentinelAddrs) == 0 {
			return nil, errors.New("sentinel: no sentinel addresses")
		}
		for _, a := range s.SentinelAddrs {
			if err := hostPort(a); err != nil {
				return nil, fmt.Errorf("sentinel: %w", err)
			}
		}
		o.Addrs = append([]string(nil), s.SentinelAddrs...)
		o.MasterName = s.SentinelMaster
	}
	if (s.SentinelUsername != "" || s.SentinelPassword != "") && s.Kind() != "sentinel" {
		return nil, errors.New("a sentinel username or password without a sentinel")
	}
	o.SentinelUsername, o.SentinelPassword = s.SentinelUsername, s.SentinelPassword
	if s.TLS != nil {
		if s.Kind() == "url" && !strings.HasPrefix(s.Addr, "rediss://") {
			return nil, errors.New("tls with a redis:// URL: write rediss://")
		}
		tc, err := s.TLS.Config()
		if err != nil {
			return nil, err
		}
		if tc.ServerName == "" && o.TLSConfig != nil {
			tc.ServerName = o.TLSConfig.ServerName // the rediss:// URL's host
		}
		o.TLSConfig = tc
	}
	if s.Username != "" {
		o.Username = s.Username
	}
	if s.Password != "" {
		o.Password = s.Password
	}
	Tune(o)
	return o, nil
}

func hostPort(a string) error {
	if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" {
		return fmt.Errorf("%q: want host:port", a)
	}
	return nil
}

// Tune sets the time-outs that suit a store asked on the request path.
func Tune(o *redis.UniversalOptions) {
	o.ContextTimeoutEnabled = true
	// Upper bounds only: each call's context (the store's Timeout) is
	// shorter. A dial outlives the call that started it, so the next call
	// finds a connection ready.
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = time.Second, time.Second, time.Second
	// One retry gets a fresh connection after Redis restarted and left the
	// pool's connections dead (and, in a cluster, follows a MOVED once the
	// slots have moved).
	o.MaxRetries = 1
	// One dial attempt per call: the next call dials again, and go-redis's
	// default of five attempts 100ms apart could never fit in a store's
	// Timeout anyway.
	o.DialerRetries = 1
}

// New makes the client s describes (a *redis.Client for an address or a
// URL, a *redis.ClusterClient for a cluster, a Sentinel-backed
// *redis.Client for a sentinel); the caller closes it. It routes go-redis's
// log through slog (internal/goredislog). It does not contact Redis.
func New(s Settings) (redis.UniversalClient, error) {
	o, err := s.Options()
	if err != nil {
		return nil, err
	}
	goredislog.Install()
	return redis.NewUniversalClient(o), nil
}
