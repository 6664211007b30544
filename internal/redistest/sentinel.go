package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMasterName is the name the sentinels of StartSentinel know the
// master by.
const SentinelMasterName = "jwtgate"

// Sentinel is a master, one replica of it and the sentinels watching them,
// all on loopback (redis-server --sentinel: Debian's redis-server package
// has no separate redis-sentinel binary).
type Sentinel struct {
	// MasterName is the monitored master's name (SentinelMasterName).
	MasterName string
	// Data are the master and its replica, as started: after Failover
	// the other one is master (see Master).
	Data [2]*Server
	// Sentinels are the sentinel processes; Addrs their addresses.
	Sentinels []*Server
	Addrs     []string

	tls      *TLSFiles
	password string // the sentinels'
}

// StartSentinel starts a master, a replica of it and n sentinels (quorum
// n/2+1) watching them, and waits until the replica is in sync and every
// sentinel knows it. Everything stops at cleanup.
func StartSentinel(tb testing.TB, n int) *Sentinel {
	tb.Helper()
	return StartSentinelWith(tb, n, Options{})
}

// StartSentinelWith is StartSentinel with o's settings: o.TLS for the data
// nodes and the sentinels alike (replication and the sentinels' own
// connections over TLS too), o.SentinelPassword the sentinels'
// requirepass.
func StartSentinelWith(tb testing.TB, n int, o Options) *Sentinel {
	tb.Helper()
	if n < 1 {
		n = 1
	}
	// Full syncs start at once (Redis waits 5s by default for more
	// replicas to join one).
	sync := []string{"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"}
	data := srvOpts{tls: o.TLS}
	master := start(tb, data, nil, sync)
	replica := start(tb, data, nil, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}, sync...))
	s := &Sentinel{MasterName: SentinelMasterName, Data: [2]*Server{master, replica}, tls: o.TLS, password: o.SentinelPassword}
	ctx := context.Background()
	waitFor(tb, "replica "+replica.Addr+" in sync", func() (bool, string) {
		info, err := infoOf(ctx, replica, "replication")
		return err == nil && strings.Contains(info, "master_link_status:up"), fmt.Sprint(info, err)
	})
	quorum := n/2 + 1
	for range n {
		sen := start(tb, srvOpts{tls: o.TLS, pass: o.SentinelPassword}, func(dir string, port int) string {
			conf := filepath.Join(dir, "sentinel.conf")
			var body string
			if o.SentinelPassword != "" {
				body = "requirepass " + o.SentinelPassword + "\n"
			}
			body += fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d\n"+
				"sentinel down-after-milliseconds %[1]s 1000\n"+
				"sentinel failover-timeout %[1]s 5000\n"+
				"sentinel parallel-syncs %[1]s 1\n", s.MasterName, master.Port, quorum)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				tb.Fatalf("redistest: sentinel config: %v", err)
			}
			return conf
		}, []string{"--sentinel"})
		s.Sentinels = append(s.Sentinels, sen)
		s.Addrs = append(s.Addrs, sen.Addr)
	}
	for _, sen := range s.Sentinels {
		sc := redis.NewSentinelClient(sen.ClientOptions())
		waitFor(tb, "sentinel "+sen.Addr+" to know the replica", func() (bool, string) {
			reps, err := sc.Replicas(ctx, s.MasterName).Result()
			for _, r := range reps {
				if r["port"] == strconv.Itoa(replica.Port) && r["flags"] == "slave" && r["master-link-status"] == "ok" {
					return true, ""
				}
			}
			return false, fmt.Sprint(reps, err)
		})
		_ = sc.Close()
	}
	return s
}

// Master returns the server every sentinel names master now.
func (s *Sentinel) Master(tb testing.TB) *Server {
	tb.Helper()
	addr, err := s.masterAddr(context.Background(), s.Sentinels[0])
	if err != nil {
		tb.Fatalf("redistest: sentinel: %v", err)
	}
	for _, d := range s.Data {
		if d.Addr == addr {
			return d
		}
	}
	tb.Fatalf("redistest: sentinel names %s master, not one of ours", addr)
	return nil
}

func (s *Sentinel) masterAddr(ctx context.Context, sentinel *Server) (string, error) {
	sc := redis.NewSentinelClient(sentinel.ClientOptions())
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
	if err != nil {
		return "", err
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("GET-MASTER-ADDR-BY-NAME answered %v", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// Failover asks a sentinel to fail over (SENTINEL FAILOVER): the replica
// is promoted and the old master made its replica. It returns once every
// sentinel names the new master, the new master says role:master and the
// old one is its replica, in sync: from then on a write reaches the new
// master or fails (READONLY), never lands on the old one.
func (s *Sentinel) Failover(tb testing.TB) (newMaster *Server) {
	tb.Helper()
	ctx := context.Background()
	old := s.Master(tb)
	newMaster = s.Data[0]
	if newMaster == old {
		newMaster = s.Data[1]
	}
	sc := redis.NewSentinelClient(s.Sentinels[0].ClientOptions())
	err := sc.Failover(ctx, s.MasterName).Err()
	_ = sc.Close()
	if err != nil {
		tb.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
	}
	for _, a := range s.Sentinels {
		waitFor(tb, "sentinel "+a.Addr+" to name "+newMaster.Addr, func() (bool, string) {
			got, err := s.masterAddr(ctx, a)
			return got == newMaster.Addr, fmt.Sprint(got, err)
		})
	}
	waitFor(tb, newMaster.Addr+" to be master", func() (bool, string) {
		info, err := infoOf(ctx, newMaster, "replication")
		return err == nil && strings.Contains(info, "role:master"), fmt.Sprint(info, err)
	})
	// The sentinels would tell the old master to follow the new one on
	// their next look at it (up to 10s); tell it now, as they would.
	oc := redis.NewClient(old.ClientOptions())
	err = oc.ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(newMaster.Port)).Err()
	_ = oc.Close()
	if err != nil {
		tb.Fatalf("redistest: REPLICAOF on the old master: %v", err)
	}
	waitFor(tb, old.Addr+" to follow "+newMaster.Addr, func() (bool, string) {
		info, err := infoOf(ctx, old, "replication")
		return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_port:"+strconv.Itoa(newMaster.Port)) &&
			strings.Contains(info, "master_link_status:up"), fmt.Sprint(info, err)
	})
	return newMaster
}

// KillMaster kills the master (SIGKILL, no goodbye) and returns once
// every sentinel has seen it down and names the replica master, and the
// replica says role:master. The killed server stays down (Restart brings
// it back, empty; the sentinels then make it a replica).
func (s *Sentinel) KillMaster(tb testing.TB) (newMaster *Server) {
	tb.Helper()
	ctx := context.Background()
	old := s.Master(tb)
	newMaster = s.Data[0]
	if newMaster == old {
		newMaster = s.Data[1]
	}
	old.Stop()
	for _, a := range s.Sentinels {
		waitFor(tb, "sentinel "+a.Addr+" to name "+newMaster.Addr+" after the master died", func() (bool, string) {
			got, err := s.masterAddr(ctx, a)
			return got == newMaster.Addr, fmt.Sprint(got, err)
		})
	}
	waitFor(tb, newMaster.Addr+" to be master", func() (bool, string) {
		info, err := infoOf(ctx, newMaster, "replication")
		return err == nil && strings.Contains(info, "role:master"), fmt.Sprint(info, err)
	})
	return newMaster
}

func infoOf(ctx context.Context, srv *Server, section string) (string, error) {
	o := srv.ClientOptions()
	o.MaxRetries = -1
	c := redis.NewClient(o)
	defer c.Close()
	return c.Info(ctx, section).Result()
}

// waitFor polls cond until it holds or clusterTimeout passes (then the
// test fails with what cond last said). It waits for external processes
// (replication, sentinels' gossip and failover), never for behaviour
// under test.
func waitFor(tb testing.TB, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: waiting %v for %s: %s", clusterTimeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
