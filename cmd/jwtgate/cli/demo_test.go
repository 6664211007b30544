package cli

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
)

// Demo mode's identity provider mints tokens for anyone: without -demo it
// never listens beyond loopback.
func TestDemoRefusedOnNonLoopbackListen(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8080", ":8080", "[::]:8080", "192.0.2.1:8080", "gateway.example:8080"} {
		var stdout, stderr gwtest.SyncBuffer
		code := Run(context.Background(), []string{"-listen", listen}, Env{Stdout: &stdout, Stderr: &stderr, Options: gateway.Options{Logger: quiet}})
		if code != ExitUsage {
			t.Errorf("-listen %s: exit %d, want %d; stderr %s", listen, code, ExitUsage, stderr.String())
		}
		for _, want := range []string{"demo mode", "mints tokens for anyone", `"` + listen + `", which is not loopback`, "-issuer", "-demo"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("-listen %s: stderr %q lacks %q", listen, stderr.String(), want)
			}
		}
		if stdout.String() != "" || strings.Contains(stderr.String(), "DEMO MODE ***") {
			t.Errorf("-listen %s: it got as far as starting the demo: %s%s", listen, stdout.String(), stderr.String())
		}
	}
}

func TestDemoFlag(t *testing.T) {
	for _, args := range [][]string{
		{"-demo"},
		{"-demo", "-listen", "0.0.0.0:8080"}, // asked for explicitly
		{"-demo", "-listen", ":8080", "-rate", "3"},
		{"-demo", "-config", gwtest.WriteConfig(t, "listen: 0.0.0.0:8080\naudiences: [mine]\n")},
	} {
		_, f, err := ParseArgs(args, io.Discard)
		if err != nil || !f.Demo || !f.DemoFlag {
			t.Errorf("ParseArgs(%q) = %+v, %v; want the demo, asked for", args, f, err)
		}
	}
	withRoutes := gwtest.WriteConfig(t, "routes: [{prefix: /, upstream: 'http://u'}]\n")
	withProvider := gwtest.WriteConfig(t, "providers: [{issuer: 'https://idp'}]\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-demo", "-issuer", "https://idp"}, "-issuer"},
		{[]string{"-demo", "-jwks-url", "https://idp/keys"}, "-jwks-url"},
		{[]string{"-demo", "-upstream", "http://u"}, "-upstream"},
		{[]string{"-demo", "-config", withRoutes}, "providers or routes in -config"},
		{[]string{"-demo", "-config", withProvider}, "providers or routes in -config"},
	} {
		_, _, err := ParseArgs(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-demo runs the embedded demo") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseArgs(%q) = %v, want a refusal naming %q", c.args, err, c.want)
		}
	}
	// A config file, a provider or an upstream means a real gateway:
	// never the demo by default, whatever the listen address.
	for _, args := range [][]string{
		{"-issuer", "https://idp", "-listen", "0.0.0.0:8080"},
		{"-upstream", "http://u", "-listen", "0.0.0.0:8080"},
		{"-config", withProvider, "-listen", "0.0.0.0:8080"},
	} {
		if _, f, err := ParseArgs(args, io.Discard); err != nil || f.Demo {
			t.Errorf("ParseArgs(%q) = %+v, %v; want no demo", args, f, err)
		}
	}
}

// Demo mode says so on stderr before anything else, whether it was
// chosen by default or with -demo; a real gateway does not.
func TestDemoModeSaysSoOnStderr(t *testing.T) {
	for _, args := range [][]string{{"-listen", "127.0.0.1:0"}, {"-demo", "-listen", "127.0.0.1:0"}} {
		var stderr gwtest.SyncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		code := Run(ctx, args, Env{Stdout: io.Discard, Stderr: &stderr, Options: gateway.Options{Logger: quiet},
			OnServe: func(e ServeEvent) {
				if !e.Demo {
					t.Errorf("%q: not in demo mode", args)
				}
				cancel()
			}})
		cancel()
		if code != ExitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr.String())
		}
		if !strings.HasPrefix(stderr.String(), "jwtgate: *** DEMO MODE *** no identity provider is configured") ||
			!strings.Contains(stderr.String(), "mints a valid token for anyone who can reach it") {
			t.Errorf("%q: stderr %q lacks the demo banner", args, stderr.String())
		}
	}
	if w := demoWarning("0.0.0.0:8080", true); !strings.Contains(w, "-demo: listening on 0.0.0.0:8080, beyond loopback") {
		t.Errorf("exposed demo banner %q", w)
	}
	if w := demoWarning("127.0.0.1:8080", true); strings.Contains(w, "beyond loopback") {
		t.Errorf("loopback demo banner %q", w)
	}

	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	r := runGateway(t, "-listen", "127.0.0.1:0", "-issuer", p.Issuer(), "-upstream", up.URL)
	if strings.Contains(r.stderr.String(), "DEMO") {
		t.Errorf("a real gateway printed the demo banner: %s", r.stderr.String())
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:0": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "10.0.0.1:80": false, "example.com:80": false, "8080": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}
