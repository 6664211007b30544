package redisconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSettingsOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		s       Settings
		kind    string
		check   func(t *testing.T, o *redis.UniversalOptions)
		problem string // a substring of the error; "" means valid
	}{
		{name: "host:port", s: Settings{Addr: "127.0.0.1:6379"}, kind: "addr", check: func(t *testing.T, o *redis.UniversalOptions) {
			if c, ok := redis.NewUniversalClient(o).(*redis.Client); !ok || c.Options().Addr != "127.0.0.1:6379" {
				t.Fatalf("client %T", c)
			}
		}},
		{name: "url", s: Settings{Addr: "redis://app@redis.internal:6380/2", Password: "from-env"}, kind: "url", check: func(t *testing.T, o *redis.UniversalOptions) {
			if o.Addrs[0] != "redis.internal:6380" || o.Username != "app" || o.Password != "from-env" || o.DB != 2 || o.TLSConfig != nil {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "rediss url is TLS", s: Settings{Addr: "rediss://redis.internal:6380"}, kind: "url", check: func(t *testing.T, o *redis.UniversalOptions) {
			if o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.internal" {
				t.Fatalf("TLS %+v", o.TLSConfig)
			}
		}},
		{name: "username overrides the url's", s: Settings{Addr: "redis://app@h:1", Username: "other"}, kind: "url", check: func(t *testing.T, o *redis.UniversalOptions) {
			if o.Username != "other" {
				t.Fatalf("user %q", o.Username)
			}
		}},
		{name: "cluster of one seed", s: Settings{Cluster: []string{"10.0.0.1:7000"}}, kind: "cluster", check: func(t *testing.T, o *redis.UniversalOptions) {
			c := redis.NewUniversalClient(o)
			defer c.Close()
			if _, ok := c.(*redis.ClusterClient); !ok {
				t.Fatalf("client %T", c)
			}
		}},
		{name: "sentinel", s: Settings{SentinelMaster: "main", SentinelAddrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}}, kind: "sentinel", check: func(t *testing.T, o *redis.UniversalOptions) {
			if o.MasterName != "main" || len(o.Addrs) != 2 {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "sentinel password", s: Settings{SentinelMaster: "main", SentinelAddrs: []string{"h:1"}, Password: "data", SentinelUsername: "sen", SentinelPassword: "sen-pw"}, kind: "sentinel", check: func(t *testing.T, o *redis.UniversalOptions) {
			fo := o.Failover()
			if fo.SentinelUsername != "sen" || fo.SentinelPassword != "sen-pw" || fo.Password != "data" {
				t.Fatalf("%+v", fo)
			}
		}},
		{name: "tls for a cluster", s: Settings{Cluster: []string{"h:1"}, TLS: &TLS{CAFile: caFile(t), ServerName: "redis.internal"}}, kind: "cluster", check: func(t *testing.T, o *redis.UniversalOptions) {
			if o.TLSConfig == nil || o.TLSConfig.RootCAs == nil || o.TLSConfig.ServerName != "redis.internal" || o.Cluster().TLSConfig != o.TLSConfig {
				t.Fatalf("TLS %+v", o.TLSConfig)
			}
		}},
		{name: "tls for a sentinel", s: Settings{SentinelMaster: "m", SentinelAddrs: []string{"h:1"}, TLS: &TLS{}}, kind: "sentinel", check: func(t *testing.T, o *redis.UniversalOptions) {
			if o.TLSConfig == nil || o.TLSConfig.RootCAs != nil || o.Failover().TLSConfig != o.TLSConfig {
				t.Fatalf("TLS %+v", o.TLSConfig)
			}
		}},
		{name: "tls keeps the rediss host", s: Settings{Addr: "rediss://redis.internal:6380", TLS: &TLS{CAFile: caFile(t)}}, kind: "url", check: func(t *testing.T, o *redis.UniversalOptions) {
			if o.TLSConfig.ServerName != "redis.internal" || o.TLSConfig.RootCAs == nil {
				t.Fatalf("TLS %+v", o.TLSConfig)
			}
		}},
		{name: "tls with redis://", s: Settings{Addr: "redis://h:1", TLS: &TLS{}}, kind: "url", problem: "write rediss://"},
		{name: "tls ca not pem", s: Settings{Addr: "h:1", TLS: &TLS{CAFile: notPEM(t)}}, kind: "addr", problem: "no PEM certificate"},
		{name: "tls ca missing", s: Settings{Addr: "h:1", TLS: &TLS{CAFile: "/nonexistent/ca.pem"}}, kind: "addr", problem: "ca_file"},
		{name: "tls cert without key", s: Settings{Addr: "h:1", TLS: &TLS{CertFile: "c.pem"}}, kind: "addr", problem: "go together"},
		{name: "sentinel password without sentinel", s: Settings{Addr: "h:1", SentinelPassword: "secret"}, kind: "addr", problem: "without a sentinel"},
		{name: "nothing", s: Settings{}, problem: "no address"},
		{name: "two shapes", s: Settings{Addr: "h:1", Cluster: []string{"h:2"}}, kind: "cluster", problem: "not several"},
		{name: "bad addr", s: Settings{Addr: "redis.internal"}, kind: "addr", problem: "want host:port"},
		{name: "bad url", s: Settings{Addr: "redis://:secret@h:1/notadb"}, kind: "url", problem: "not a valid"},
		{name: "bad seed", s: Settings{Cluster: []string{"h:1", "nope"}}, kind: "cluster", problem: "cluster: \"nope\""},
		{name: "sentinel without master", s: Settings{SentinelAddrs: []string{"h:1"}}, kind: "sentinel", problem: "no master"},
		{name: "sentinel without addrs", s: Settings{SentinelMaster: "m"}, kind: "sentinel", problem: "no sentinel addresses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k := tc.s.Kind(); k != tc.kind {
				t.Errorf("Kind %q, want %q", k, tc.kind)
			}
			o, err := tc.s.Options()
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("error %v, want %q", err, tc.problem)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !o.ContextTimeoutEnabled || o.MaxRetries != 1 || o.DialerRetries != 1 {
				t.Fatalf("not tuned: %+v", o)
			}
			tc.check(t, o)
		})
	}
}

// caFile writes a self-signed CA certificate and returns its path.
func caFile(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func notPEM(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Digest follows the files' contents, not their paths.
func TestTLSDigestFollowsContents(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tl := &TLS{CAFile: write("ca.pem", "ca"), CertFile: write("c.pem", "cert"), KeyFile: write("k.pem", "key")}
	first := tl.Digest()
	if tl.Digest() != first {
		t.Fatal("the same contents, another digest")
	}
	write("c.pem", "cert2")
	if tl.Digest() == first {
		t.Fatal("a rotated certificate, the same digest")
	}
	// Contents shifted from one file to the next are not the same files.
	moved := &TLS{CAFile: write("a", "cac"), CertFile: write("b", "ert"), KeyFile: write("c", "key")}
	same := &TLS{CAFile: write("d", "ca"), CertFile: write("e", "cert"), KeyFile: write("f", "key")}
	if moved.Digest() == same.Digest() {
		t.Fatal("contents run together")
	}
	gone := &TLS{CAFile: filepath.Join(dir, "missing.pem")}
	if gone.Digest() == (&TLS{}).Digest() {
		t.Fatal("a file that cannot be read counts as none")
	}
}
