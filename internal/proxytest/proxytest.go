// Package proxytest starts real reverse proxies — nginx and Caddy — for
// tests, on free loopback ports with generated configuration, and stops them
// when the test ends. It is how jwtgate's decision mode is tested against
// the proxies it sits behind (nginx auth_request, Caddy forward_auth).
//
// Quick start:
//
//	p := proxytest.Nginx(t, `location / { return 200 "ok"; }`) // a server block's body
//	resp, _ := http.Get(p.URL + "/")
//
// A missing binary fails the test with how to install it (Debian: apt-get
// install nginx caddy; .ci/run does this); it is never a skip.
package proxytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a proxy may take to answer its first request.
const startTimeout = 15 * time.Second

// Proxy is one proxy process owned by a test.
type Proxy struct {
	// URL is "http://127.0.0.1:port".
	URL string
	// Port is the TCP port it listens on.
	Port int
	// Dir is its working directory (configuration, logs, temp files).
	Dir string

	name string
	mu   sync.Mutex // guards cmd
	cmd  *exec.Cmd
	done chan struct{}
	out  *bytes.Buffer
}

// Output returns what the process has written to stdout and stderr so far
// (for a failing test's message).
func (p *Proxy) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Nginx starts nginx with one server block listening on a free loopback
// port, whose body is server (directives such as location blocks, with
// auth_request where the test needs it). http adds directives at the http
// level (upstreams, maps), in order.
func Nginx(tb testing.TB, server string, http ...string) *Proxy {
	tb.Helper()
	bin := binary(tb, "nginx", "/usr/sbin/nginx", "nginx")
	return start(tb, "nginx", func(dir string, port int) (*exec.Cmd, error) {
		conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	%[3]s
	server {
		listen 127.0.0.1:%[2]d;
		%[4]s
	}
}
`, dir, port, strings.Join(http, "\n\t"), server)
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		// -e: nginx opens its default error log before reading the
		// configuration; point it at stderr so no system path is touched.
		return exec.Command(bin, "-p", dir, "-c", path, "-e", "stderr"), nil
	})
}

// Caddy starts Caddy with one site on a free loopback port, whose body is
// site (Caddyfile directives such as forward_auth and reverse_proxy). The
// admin endpoint and automatic HTTPS are off.
func Caddy(tb testing.TB, site string) *Proxy {
	tb.Helper()
	bin := binary(tb, "caddy", "/usr/bin/caddy", "caddy")
	return start(tb, "caddy", func(dir string, port int) (*exec.Cmd, error) {
		conf := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\n\nhttp://127.0.0.1:%d {\n%s\n}\n", port, site)
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
		// Caddy keeps state under the user's data and config dirs: keep
		// it in the test's directory.
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		return cmd, nil
	})
}

func binary(tb testing.TB, name, debian, pkg string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	tb.Fatalf("proxytest: %s not found on PATH nor at %s: these tests need the real proxy; "+
		"install it (Debian/Ubuntu: apt-get install %s; .ci/run does this)", name, debian, pkg)
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

func start(tb testing.TB, name string, build func(dir string, port int) (*exec.Cmd, error)) *Proxy {
	tb.Helper()
	var lastErr error
	// A port found free can be taken before the proxy binds it; try a few.
	for range 5 {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("proxytest: finding a free port: %v", err)
		}
		p := &Proxy{URL: "http://127.0.0.1:" + strconv.Itoa(port), Port: port, Dir: tb.TempDir(), name: name}
		cmd, err := build(p.Dir, port)
		if err != nil {
			tb.Fatalf("proxytest: %s: %v", name, err)
		}
		if lastErr = p.run(cmd); lastErr == nil {
			tb.Cleanup(p.Stop)
			return p
		}
	}
	tb.Fatalf("proxytest: %v", lastErr)
	return nil
}

func (p *Proxy) run(cmd *exec.Cmd) error {
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = syncWriter{&p.mu, out}, syncWriter{&p.mu, out}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // nginx's workers die with it
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done, p.out = cmd, done, out
	p.mu.Unlock()
	client := &http.Client{Timeout: 200 * time.Millisecond}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(startTimeout)
	for {
		// Any HTTP answer means it is serving the configuration.
		if resp, err := client.Get(p.URL + "/.proxytest-ready"); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s on port %d exited at start: %s", p.name, p.Port, strings.TrimSpace(p.Output()))
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("%s on port %d did not answer within %v: %s", p.name, p.Port, startTimeout, strings.TrimSpace(p.Output()))
		}
		// Polling an external process's readiness, not waiting for
		// behaviour under test.
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the proxy (and its worker processes) and waits for it. It is
// idempotent and also runs at cleanup.
func (p *Proxy) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

type syncWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w syncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}
