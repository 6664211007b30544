package image

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podman runs podman with a storage of the test's own (vfs: no overlay
// mounts, no root storage touched) and returns its output.
type podman struct {
	t          *testing.T
	bin, store string
}

func (p podman) run(args ...string) string {
	p.t.Helper()
	full := append([]string{"--root", filepath.Join(p.store, "root"), "--runroot", filepath.Join(p.store, "run"), "--storage-driver", "vfs"}, args...)
	out, err := exec.Command(p.bin, full...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The Dockerfile's final image: the static binary alone, as a non-root
// user, exposing the listen port, with its labels; the binary taken back
// out of it runs (-h, and the demo as far as its first printed line).
func TestContainerImage(t *testing.T) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		t.Fatal("podman not found: this test builds the image with it (.ci/run installs it: apt-get install podman)")
	}
	ctxDir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(ctxDir, "jwtgate"), "./cmd/jwtgate")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	p := podman{t: t, bin: bin, store: t.TempDir()}
	const tag = "localhost/jwtgate:test"
	p.run("build", "--build-arg", "BINARY_FROM=prebuilt", "-t", tag, ctxDir)

	var images []struct {
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			ExposedPorts map[string]struct{}
			Labels       map[string]string
		}
		RootFS struct{ Layers []string }
	}
	if err := json.Unmarshal([]byte(p.run("image", "inspect", tag)), &images); err != nil || len(images) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	c := images[0].Config
	if c.User == "" || strings.HasPrefix(c.User, "0") || c.User == "root" {
		t.Errorf("runs as %q, want a non-root user", c.User)
	}
	if strings.Join(c.Entrypoint, " ") != "/jwtgate" {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || !strings.Contains(strings.Join(c.Cmd, " "), "-listen :8080") {
		t.Errorf("port: exposed %v, cmd %q", c.ExposedPorts, c.Cmd)
	}
	for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.licenses"} {
		if c.Labels[l] == "" {
			t.Errorf("label %s missing: %v", l, c.Labels)
		}
	}
	if n := len(images[0].RootFS.Layers); n != 1 {
		t.Errorf("%d layers, want the binary's alone", n)
	}

	// The binary, taken back out of the image (created, never started).
	p.run("create", "--name", "jwtgate-image-test", tag)
	out := filepath.Join(t.TempDir(), "jwtgate")
	p.run("cp", "jwtgate-image-test:/jwtgate", out)
	p.run("rm", "jwtgate-image-test")
	if f, err := elf.Open(out); err != nil {
		t.Fatal(err)
	} else {
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Error("the binary is dynamically linked: the image has no libc for it")
			}
		}
		f.Close()
	}
	help, err := exec.Command(out, "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "Usage: jwtgate") {
		t.Fatalf("-h: %v\n%s", err, help)
	}

	// The demo starts and says where to send a request.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a bound on a hung binary, not a wait
	defer cancel()
	demo := exec.CommandContext(ctx, out, "-listen", "127.0.0.1:0")
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	sawCurl := false
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "curl ") {
			sawCurl = true
			break
		}
	}
	demo.Process.Signal(os.Interrupt)
	demo.Wait()
	if !sawCurl {
		t.Fatal("the demo printed no curl line")
	}
}
