package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
)

// runUsage runs the program with args and returns its exit code and
// stderr; every case here fails before anything listens.
func runUsage(t *testing.T, lookup map[string]string, args ...string) (int, string) {
	t.Helper()
	var stderr gwtest.SyncBuffer
	code := Run(context.Background(), args, Env{Stdout: io.Discard, Stderr: &stderr, LookupEnv: gwtest.Env(lookup), Options: gateway.Options{Logger: quiet}})
	return code, stderr.String()
}

// A bad flag is one line saying what is wrong and where help is, not the
// error twice around the whole usage; no message says "gateway: gateway:".
func TestBadFlagSaysItOnce(t *testing.T) {
	code, out := runUsage(t, nil, "-bogus")
	if code != ExitUsage || strings.Count(out, "-bogus") != 1 || strings.Contains(out, "Usage:") || strings.Contains(out, "gateway: gateway:") ||
		strings.Count(out, "\n") != 2 {
		t.Fatalf("exit %d, stderr:\n%s", code, out)
	}
	code, out = runUsage(t, nil, "-h")
	if code != ExitOK || !strings.Contains(out, "Usage: jwtgate") || !strings.Contains(out, "-issuer") {
		t.Fatalf("-h: exit %d, stderr:\n%s", code, out)
	}
	code, out = runUsage(t, nil, "-issuer", "https://idp.example", "-rate", "-1")
	if code != ExitUsage || strings.Contains(out, "gateway: gateway:") {
		t.Fatalf("a bad value: exit %d, stderr:\n%s", code, out)
	}
}

// A value of the wrong type does not hide the file's other problems: one
// run names them all.
func TestYAMLTypeErrorAndOtherProblemsTogether(t *testing.T) {
	file := gwtest.WriteConfig(t, "issuer: https://idp.example\nrate: fast\nroutes:\n  - {prefix: admin, upstream: 'http://u'}\n")
	code, out := runUsage(t, nil, "-config", file)
	if code != ExitUsage || !strings.Contains(out, "line 2") || !strings.Contains(out, "`fast`") ||
		!strings.Contains(out, `route 1 ("admin")`) || strings.Contains(out, "gateway: gateway:") {
		t.Fatalf("exit %d, stderr:\n%s", code, out)
	}
}

// The example config says in its header what it needs from the
// environment, and with exactly that it is valid; without it, the error
// names the variable.
func TestExampleYAMLSaysWhatItNeeds(t *testing.T) {
	const path = "../../../examples/gateway/gateway.example.yaml"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header strings.Builder
	for sc := bufio.NewScanner(f); sc.Scan() && strings.HasPrefix(sc.Text(), "#"); {
		header.WriteString(sc.Text() + "\n")
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`\b([A-Z][A-Z0-9_]+)=\S+`).FindAllStringSubmatch(header.String(), -1) {
		vars[m[1]] = "set-by-test"
	}
	if len(vars) == 0 {
		t.Fatalf("the header names no environment variable:\n%s", header.String())
	}
	cfg, _, err := ParseArgs([]string{"-config", path, "-issuer", "https://idp.example"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(gwtest.Env(vars)); err != nil {
		t.Fatalf("with the header's variables %v: %v", vars, err)
	}
	for name := range vars {
		_, err := cfg.Validate(gwtest.Env(nil))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("without %s: %v", name, err)
		}
	}
}
