package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// A provider that answers at start with a discovery document for another
// issuer is a configuration mistake: exit 2 with the reason, before
// listening, rather than serve 503 for ever.
func TestIssuerMismatchAtStartExitsTwo(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	other := gwtest.StartIDP(t, false)
	localhost := strings.Replace(p.Issuer(), "127.0.0.1", "localhost", 1)
	twoProviders := gwtest.WriteConfig(t, "issuer: "+other.Issuer()+"\nproviders: [{issuer: '"+p.Issuer()+"/'}]\n"+
		"routes: [{prefix: /, upstream: '"+up.URL+"'}]\nlisten: 127.0.0.1:0\n")
	for _, c := range []struct {
		name       string
		args       []string
		configured string
	}{
		{"trailing slash", []string{"-issuer", p.Issuer() + "/"}, p.Issuer() + "/"},
		{"localhost for 127.0.0.1", []string{"-issuer", localhost}, localhost},
		{"one of two providers", []string{"-config", twoProviders}, p.Issuer() + "/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.args[0] != "-config" {
				args = append([]string{"-listen", "127.0.0.1:0", "-upstream", up.URL}, args...)
			}
			var stdout, stderr gwtest.SyncBuffer
			// Should it serve after all, stop it at once so the test fails
			// instead of hanging.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			code := Run(ctx, args, Env{Stdout: &stdout, Stderr: &stderr, Options: gateway.Options{Logger: quiet},
				OnServe: func(ServeEvent) { cancel() }})
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %s", code, ExitUsage, stderr.String())
			}
			want := `discovery issuer mismatch: document says "` + p.Issuer() + `", configured "` + c.configured + `"`
			if !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), `provider "`+c.configured+`"`) {
				t.Errorf("stderr %q lacks %q", stderr.String(), want)
			}
			if stdout.String() != "" {
				t.Errorf("printed %q: it got as far as listening", stdout.String())
			}
		})
	}
}

// A provider that is down or silent at start is an outage, not a mistake:
// the gateway serves, and /readyz says 503 and why.
func TestUnreachableProviderAtStartKeepsRunning(t *testing.T) {
	up := gwtest.StartUpstream(t)
	down := gwtest.StartIDP(t, true)
	gone, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	gone.Close() // its address now refuses connections
	silent := gwtest.StartIDP(t, false)
	// Held until the gateway's cache gives up the request, or the issuer
	// closes in the test's cleanup.
	if err := silent.SetDiscovery(jwtgatetest.Behavior{Hang: true}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name    string
		issuer  string
		window  time.Duration
		lastErr string // "" means none yet
	}{
		{"503", down.Issuer(), 0, "status 503"},
		{"connection refused", gone.Issuer(), 0, "connection refused"},
		// The start-up window ends before the provider answers.
		{"silent", silent.Issuer(), time.Nanosecond, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := startRun(t, Env{StartupWindow: c.window}, "-listen", "127.0.0.1:0", "-issuer", c.issuer, "-upstream", up.URL)
			status, body := g.get(t, "/readyz", "")
			if status != http.StatusServiceUnavailable {
				t.Fatalf("/readyz %d: %s", status, body)
			}
			rb := gwtest.DecodeReadyz[gateway.ProviderStatus](t, body)
			if rb.Status != "keys not loaded" || len(rb.Providers) != 1 {
				t.Fatalf("/readyz body %s", body)
			}
			ps := rb.Providers[0]
			if ps.Issuer != c.issuer || ps.Ready || ps.Keys != 0 {
				t.Errorf("provider state %+v", ps)
			}
			if c.lastErr == "" && ps.LastError != "" || !strings.Contains(ps.LastError, c.lastErr) {
				t.Errorf("last_error %q, want it to mention %q", ps.LastError, c.lastErr)
			}
			if c.lastErr != "" && (ps.LastErrorAt == nil || ps.ConsecutiveFailures < 1) {
				t.Errorf("provider state %+v: want the failure's time and count", ps)
			}
			if status, _ := g.get(t, "/healthz", ""); status != http.StatusOK {
				t.Errorf("/healthz %d", status)
			}
		})
	}
}
