package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// reloadYAML is a config file with a route per prefix, each forwarding sub
// as X-Sub.
func reloadYAML(p *jwtgatetest.Issuer, up string, prefixes ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\nroutes:\n", p.Issuer())
	for _, pr := range prefixes {
		fmt.Fprintf(&b, "  - prefix: %s\n    upstream: %s\n    claim_headers: {sub: X-Sub}\n", pr, up)
	}
	return b.String()
}

// reloadEvents is an Env whose gateway reports its reloads on the
// returned channel.
func reloadEvents(env Env) (Env, chan gateway.ReloadEvent) {
	ch := make(chan gateway.ReloadEvent, 16)
	env.Options.OnReload = func(e gateway.ReloadEvent) { ch <- e }
	return env, ch
}

func metricLine(t *testing.T, r *running, name string) string {
	t.Helper()
	code, body := r.get(t, "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for l := range strings.Lines(body) {
		if strings.HasPrefix(l, name) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func TestWatchWithoutConfigIsAUsageError(t *testing.T) {
	empty := gwtest.WriteConfig(t, "listen: 127.0.0.1:0\n")
	for _, args := range [][]string{
		{"-watch", "-issuer", "https://idp.example", "-upstream", "http://127.0.0.1:1"},
		{"-watch"},
		{"-watch", "-demo", "-config", empty},
	} {
		var stderr strings.Builder
		code := Run(context.Background(), args, Env{Stdout: io.Discard, Stderr: &stderr})
		if code != ExitUsage || !strings.Contains(stderr.String(), "-watch") {
			t.Errorf("%q: exit %d: %s", args, code, stderr.String())
		}
	}
}

// SIGHUP reloads -config with the command line's flags over it; a file
// that does not parse keeps the running config and counts an error.
func TestSIGHUPReloadsTheConfigFile(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	file := gwtest.WriteConfig(t, reloadYAML(p, up.URL, "/a/"))
	hup := make(chan os.Signal)
	env, events := reloadEvents(Env{Reload: hup})
	r := startRun(t, env, "-config", file, "-listen", "127.0.0.1:0", "-audience", "api")
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "u", Audience: "api"})
	if code, _ := r.get(t, "/b/x", tok); code != http.StatusNotFound {
		t.Fatalf("/b/ before: %d", code)
	}

	if err := os.WriteFile(file, []byte(reloadYAML(p, up.URL, "/a/", "/b/")), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	if e := <-events; e.Err != nil || e.Generation != 2 {
		t.Fatalf("reload: %+v", e)
	}
	if code, body := r.get(t, "/b/x", tok); code != http.StatusOK {
		t.Fatalf("/b/ after SIGHUP: %d %s", code, body)
	}
	// -audience still applies over the new file.
	if code, _ := r.get(t, "/b/x", p.Mint(t, jwtgatetest.Claims{Subject: "u", Audience: "other"})); code != http.StatusUnauthorized {
		t.Fatalf("-audience lost in the reload: %d", code)
	}

	if err := os.WriteFile(file, []byte("issuer: [not, a, string]\nroutes: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	if e := <-events; !errors.Is(e.Err, gateway.ErrInvalidConfig) || e.Generation != 2 {
		t.Fatalf("bad file: %+v", e)
	}
	if code, body := r.get(t, "/b/x", tok); code != http.StatusOK {
		t.Fatalf("running config after a bad file: %d %s", code, body)
	}
	if got := metricLine(t, r, `jwtgate_config_reloads_total{result="error"}`); !strings.HasSuffix(got, " 1") {
		t.Fatalf("error counter: %q", got)
	}
	if got := metricLine(t, r, `jwtgate_config_reloads_total{result="ok"}`); !strings.HasSuffix(got, " 1") {
		t.Fatalf("ok counter: %q", got)
	}
}

// The process's own SIGHUP, through Main's signal handling.
func TestMainReloadsOnSIGHUP(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	file := gwtest.WriteConfig(t, reloadYAML(p, up.URL, "/a/"))
	urlc := make(chan string, 1)
	env, events := reloadEvents(Env{Stdout: io.Discard, Stderr: io.Discard, OnServe: func(e ServeEvent) { urlc <- e.URL }})
	env.Options.Logger = quiet
	exit := make(chan int, 1)
	go func() { exit <- mainEnv([]string{"-config", file, "-listen", "127.0.0.1:0"}, env) }()
	select {
	case <-urlc:
	case code := <-exit:
		t.Fatalf("exit %d before serving", code)
	}
	defer func() {
		// mainEnv has SIGTERM routed to its context while it runs.
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		if code := <-exit; code != ExitOK {
			t.Errorf("exit %d", code)
		}
	}()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Err != nil {
		t.Fatalf("reload on SIGHUP: %v", e.Err)
	}
}

// configMap lays out a directory as a Kubernetes ConfigMap volume does:
// the data in a timestamped directory, "..data" a link to it, and the file
// a link through "..data"; an update writes a new directory and renames a
// new link over "..data" (atomic), then removes the old directory.
type configMap struct {
	t   *testing.T
	dir string
	n   int
}

func newConfigMap(t *testing.T, content string) *configMap {
	c := &configMap{t: t, dir: t.TempDir()}
	c.update(content)
	if err := os.Symlink(filepath.Join("..data", "gateway.yaml"), filepath.Join(c.dir, "gateway.yaml")); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *configMap) file() string { return filepath.Join(c.dir, "gateway.yaml") }

func (c *configMap) update(content string) {
	t := c.t
	c.n++
	data := fmt.Sprintf("..2026_12_07_%02d", c.n)
	if err := os.Mkdir(filepath.Join(c.dir, data), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, data, "gateway.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(c.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(c.dir, "..data_tmp"), filepath.Join(c.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if c.n > 1 {
		if err := os.RemoveAll(filepath.Join(c.dir, fmt.Sprintf("..2026_12_07_%02d", c.n-1))); err != nil {
			t.Fatal(err)
		}
	}
}

// -watch picks up a ConfigMap update (a swapped ..data link), skips an
// update whose content is the same, and its watcher goroutines end with
// Run.
func TestWatchFollowsAConfigMapUpdate(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after Run's own cleanup

	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cm := newConfigMap(t, reloadYAML(p, up.URL, "/a/"))
	checks := make(chan bool, 64)
	env, events := reloadEvents(Env{WatchDebounce: time.Millisecond, onCheck: func(changed bool) { checks <- changed }})
	r := startRun(t, env, "-config", cm.file(), "-watch", "-listen", "127.0.0.1:0")
	if changed := <-checks; changed {
		t.Fatal("the first check, at the watch's start, found a change")
	}
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "u"})

	// The same content again: read, not reloaded.
	cm.update(reloadYAML(p, up.URL, "/a/"))
	if changed := <-checks; changed {
		t.Fatal("an update with the same content counted as a change")
	}
	cm.update(reloadYAML(p, up.URL, "/a/", "/b/"))
	for changed := <-checks; !changed; changed = <-checks {
	}
	e := <-events
	if e.Err != nil || e.Generation != 2 {
		t.Fatalf("reload after the update: %+v (generation 2 means no reload of the same content before it)", e)
	}
	if code, body := r.get(t, "/b/x", tok); code != http.StatusOK {
		t.Fatalf("/b/ after the ConfigMap update: %d %s", code, body)
	}
	if got := metricLine(t, r, `jwtgate_config_reloads_total{result="ok"}`); !strings.HasSuffix(got, " 1") {
		t.Fatalf("ok counter: %q", got)
	}
}

// The debounce reads the file once the directory has been quiet for the
// debounce time, however many events came before.
func TestDebounceWaitsForQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		events := make(chan struct{})
		var fired atomic.Int32
		done := make(chan struct{})
		go func() { defer close(done); debounceLoop(events, 100*time.Millisecond, func() { fired.Add(1) }) }()
		for range 5 {
			events <- struct{}{}
			time.Sleep(50 * time.Millisecond) // fake time: a burst of events 50 ms apart
		}
		synctest.Wait()
		if n := fired.Load(); n != 0 {
			t.Fatalf("fired %d times within the burst", n)
		}
		time.Sleep(60 * time.Millisecond) // past 100 ms after the last event
		synctest.Wait()
		if n := fired.Load(); n != 1 {
			t.Fatalf("fired %d times after the burst, want 1", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := fired.Load(); n != 1 {
			t.Fatalf("fired %d times with no events, want 1", n)
		}
		close(events)
		<-done
	})
}

// Without -config there is nothing to reload: SIGHUP is logged and
// ignored, and the gateway serves on.
func TestSIGHUPWithoutConfigIsIgnored(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	hup := make(chan os.Signal)
	env, events := reloadEvents(Env{Reload: hup})
	r := startRun(t, env, "-issuer", p.Issuer(), "-upstream", up.URL, "-listen", "127.0.0.1:0")
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // taken once the first has been handled
	select {
	case e := <-events:
		t.Fatalf("a reload without -config: %+v", e)
	default:
	}
	if got := metricLine(t, r, `jwtgate_config_reloads_total{result="error"}`); !strings.HasSuffix(got, " 0") {
		t.Fatalf("error counter: %q", got)
	}
	if code, body := r.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "u"})); code != http.StatusOK {
		t.Fatalf("after SIGHUP: %d %s", code, body)
	}
}

// An edit landing after Run's load read the file and before the watch
// started is a change: -watch compares with the bytes the running config
// was decoded from, not with a second read of the file (which would hold
// the edit, so that it went unnoticed until the next one).
func TestWatchSeesAnEditBetweenLoadAndWatch(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	file := gwtest.WriteConfig(t, reloadYAML(p, up.URL, "/a/"))
	checks := make(chan bool, 64)
	env, events := reloadEvents(Env{
		WatchDebounce: time.Millisecond,
		onCheck:       func(changed bool) { checks <- changed },
		afterLoad: func() {
			if err := os.WriteFile(file, []byte(reloadYAML(p, up.URL, "/a/", "/b/")), 0o600); err != nil {
				t.Error(err)
			}
		},
	})
	r := startRun(t, env, "-config", file, "-watch", "-listen", "127.0.0.1:0")
	if changed := <-checks; !changed {
		t.Fatal("the check at the watch's start missed the edit made after the load")
	}
	if e := <-events; e.Err != nil || e.Generation != 2 {
		t.Fatalf("reload of the edit: %+v", e)
	}
	if code, body := r.get(t, "/b/x", p.Mint(t, jwtgatetest.Claims{Subject: "u"})); code != http.StatusOK {
		t.Fatalf("/b/ after the edit: %d %s", code, body)
	}
}
