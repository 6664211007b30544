package grpcauth_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDepsStayOut guards the reason grpcauth and extauthz are packages of
// their own: a plain middleware, adapter or cache user must not link grpc or
// go-control-plane.
func TestDepsStayOut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "../middleware", "../adapters/...", "../cache", "../ratelimit").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"google.golang.org/grpc", "github.com/envoyproxy/", "github.com/jwtgate/jwtgate/grpcauth", "github.com/jwtgate/jwtgate/extauthz"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("%s is linked by a plain middleware user", pkg)
			}
		}
	}
}
