// Package redistest starts throw-away redis-server processes for tests, on a
// free loopback port, and stops them when the test ends.
//
// Quick start:
//
//	srv := redistest.Start(t) // t.Fatal when redis-server is missing
//	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
//	srv.Stop()    // Redis goes away mid-test
//	srv.Restart() // and comes back on the same port, empty
//	srv.Pause()   // accepts connections but answers nothing (SIGSTOP)
//	srv.Resume()
//
//	cluster := redistest.StartCluster(t)   // three masters; cluster.Addrs are the seeds
//	sentinel := redistest.StartSentinel(t) // a master, a replica, sentinels
//	sentinel.Failover(t)                   // the replica becomes master
//	sentinel.KillMaster(t)                 // or: the master dies, the sentinels promote the replica
//
//	files := redistest.NewTLSFiles(t) // a CA and certificates made in the test
//	tlsSrv := redistest.StartWith(t, redistest.Options{TLS: files}) // TLS only, client certificate required
//	redistest.StartSentinelWith(t, 1, redistest.Options{TLS: files, SentinelPassword: "pw"})
//
// The server keeps no data on disk (--save ” --appendonly no). A missing
// redis-server binary fails the test with a message saying how to install
// it; it is never a skip.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a redis-server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process owned by a test. Its methods are safe
// for concurrent use; they fail the test (tb.Fatal) on trouble, so call
// them from the test's goroutine.
type Server struct {
	// Addr is "127.0.0.1:port", stable across Restart.
	Addr string
	// Port is the TCP port, stable across Restart.
	Port int

	tb    testing.TB
	bin   string
	dir   string
	conf  string    // a config file to start with (a sentinel's), or ""
	extra []string  // more arguments (cluster or replica settings)
	tls   *TLSFiles // serve TLS only, with these; nil: plain TCP
	pass  string    // the password the server requires (a sentinel's requirepass), or ""

	mu   sync.Mutex // guards the fields below
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited and been waited for
	out  *bytes.Buffer // the process's output, readable once done is closed
}

// Start starts redis-server on a free loopback port, waits until it
// answers PING and registers its Stop with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, srvOpts{}, nil, nil)
}

// Options change how StartWith, StartClusterWith and StartSentinelWith
// start their servers. The zero value is Start's plain servers.
type Options struct {
	// TLS makes every server (and sentinel) serve TLS only (--port 0
	// --tls-port), with these files, require a client certificate, and
	// replicate and gossip over TLS. Nil: plain TCP.
	TLS *TLSFiles
	// SentinelPassword is the sentinels' requirepass (StartSentinelWith
	// only; the data nodes ask for none). Empty: none.
	SentinelPassword string
}

// StartWith is Start with o's settings.
func StartWith(tb testing.TB, o Options) *Server {
	tb.Helper()
	return start(tb, srvOpts{tls: o.TLS}, nil, nil)
}

// srvOpts are one server's TLS files and required password.
type srvOpts struct {
	tls  *TLSFiles
	pass string
}

// ClientOptions are the options of a client of the server: its address,
// and the client TLS settings and the password it needs, if any.
func (s *Server) ClientOptions() *redis.Options {
	o := &redis.Options{Addr: s.Addr, Password: s.pass}
	if s.tls != nil {
		o.TLSConfig = s.tls.Client.Clone()
	}
	return o
}

// start starts a server with the extra arguments; conf, when not empty,
// is a function writing the config file (in the server's own directory,
// given its port) that the server starts from.
func start(tb testing.TB, so srvOpts, conf func(dir string, port int) string, extra []string) *Server {
	tb.Helper()
	bin := binary(tb)
	var lastErr error
	// A port found free can be taken before redis-server binds it; try a
	// few.
	for range 5 {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: finding a free port: %v", err)
		}
		s := &Server{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Port: port,
			tb:   tb,
			bin:  bin,
			dir:  tb.TempDir(),
			tls:  so.tls,
			pass: so.pass,
		}
		s.extra = extra
		if conf != nil {
			s.conf = conf(s.dir, port)
		}
		if lastErr = s.start(); lastErr == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

func binary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	const debian = "/usr/bin/redis-server"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	tb.Fatalf("redistest: redis-server not found on PATH nor at %s: these tests need a real Redis; "+
		"install it (Debian/Ubuntu: apt-get install redis-server; .ci/run does this)", debian)
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the process and waits for PING; it returns an error (with the
// server's output) when the process exits or does not answer in time.
func (s *Server) start() error {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	if s.tls != nil {
		args = append(args, s.tls.serverArgs(strconv.Itoa(s.Port))...)
	} else {
		args = append(args, "--port", strconv.Itoa(s.Port))
	}
	args = append(args,
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--protected-mode", "no",
		"--loglevel", "warning",
	)
	cmd := exec.Command(s.bin, append(args, s.extra...)...)
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.out = cmd, done, out
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		if err := s.Ping(100 * time.Millisecond); err == nil {
			// Whoever answers must be this process: a port found free
			// may have been taken by another test's server, and then
			// this one exits on its failed bind.
			if pid, err := s.pid(); err == nil && pid == cmd.Process.Pid {
				return nil
			} else if err == nil {
				s.kill()
				return fmt.Errorf("port %d answered by another process (pid %d)", s.Port, pid)
			}
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited at start: %s", s.Port, strings.TrimSpace(out.String()))
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %s", s.Port, startTimeout, strings.TrimSpace(out.String()))
		}
		// Polling an external process's readiness, not waiting for
		// behaviour under test.
		time.Sleep(5 * time.Millisecond)
	}
}

// pid asks the server for its process id (INFO server).
func (s *Server) pid() (int, error) {
	o := s.ClientOptions()
	o.MaxRetries, o.DialTimeout, o.ReadTimeout = -1, time.Second, time.Second
	c := redis.NewClient(o)
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("no process_id in INFO server")
}

// Ping sends PING over a fresh connection (TLS and AUTH first if the
// server wants them) and expects +PONG within timeout.
func (s *Server) Ping(timeout time.Duration) error {
	d := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	var err error
	if s.tls != nil {
		conn, err = tls.DialWithDialer(d, "tcp", s.Addr, s.tls.Client)
	} else {
		conn, err = d.Dial("tcp", s.Addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	if s.pass != "" {
		auth := fmt.Sprintf("*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(s.pass), s.pass)
		if _, err := io.WriteString(conn, auth); err != nil {
			return err
		}
		if line, err := r.ReadString('\n'); err != nil {
			return err
		} else if strings.TrimSpace(line) != "+OK" {
			return fmt.Errorf("redistest: AUTH answered %q", line)
		}
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redistest: PING answered %q", line)
	}
	return nil
}

// Stop kills the server and waits for it to exit. It is idempotent and
// also runs at cleanup.
func (s *Server) Stop() { s.kill() }

func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	// SIGKILL also ends a paused (SIGSTOPped) process.
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart starts a stopped server again on the same port, empty. It fails
// the test if the server is running or does not come up.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		s.tb.Fatalf("redistest: Restart of a running server on port %d", s.Port)
	}
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

// Pause stops the process with SIGSTOP: connections are still accepted
// by the kernel, but nothing is answered, like a Redis stuck or far away.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.tb.Fatalf("redistest: %v to a stopped server on port %d", sig, s.Port)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: %v: %v", sig, err)
	}
}
