package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// heavy are the module paths a program that only verifies tokens must not
// link: each lives behind a package of its own (ratelimit/redislimit, budget/redisbudget,
// metrics, grpcauth, extauthz, the adapters, policy, tracing).
var heavy = []string{
	"github.com/redis/go-redis/",
	"github.com/go-redis/redis_rate/",
	"github.com/prometheus/",
	"google.golang.org/grpc",
	"github.com/envoyproxy/",
	"github.com/modelcontextprotocol/",
	"cel.dev/",             // route policies: package policy
	"go.opentelemetry.io/", // traces: package tracing
}

const mcpSDK = "github.com/modelcontextprotocol/"

// without returns list minus drop.
func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

var frameworks = []string{"github.com/gin-gonic/", "github.com/labstack/"}

func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	args := append([]string{"list", "-deps"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestCoreLinksOnlyWhatItUses(t *testing.T) {
	for _, c := range []struct {
		pkgs   []string
		banned []string
	}{
		{[]string{"../../middleware", "../../cache", "../../ratelimit", "../../replay", "../../forwarded"}, append(heavy, frameworks...)},
		// adapters/mcp is the one place the MCP SDK may enter.
		{[]string{"../../adapters/echo", "../../adapters/gin", "../../adapters/nethttp"}, heavy},
		{[]string{"../../adapters/mcp"}, without(heavy, mcpSDK)},
		// Token budgets: the core and the usage tap link no Redis
		// (budget/redisbudget does) and no framework.
		{[]string{"../../budget", "../../llmusage"}, append(heavy, frameworks...)},
		// The store contract suites: a user's own store runs them
		// without linking Redis.
		{[]string{"../../ratelimit/ratelimittest", "../../replay/replaytest", "../../budget/budgettest"}, append(heavy, frameworks...)},
		// More credentials: introspection and the key store link no Redis
		// (apikey/redisapikey does), no Prometheus, no framework; the
		// test kit links nothing of jwtgate's heavy side either.
		{[]string{"../../introspect", "../../apikey", "../../jwtgatetest"}, append(heavy, frameworks...)},
	} {
		got := deps(t, c.pkgs...)
		if len(got) < 10 {
			t.Fatalf("go list -deps %v listed only %v", c.pkgs, got)
		}
		for _, pkg := range got {
			for _, b := range c.banned {
				if strings.HasPrefix(pkg, b) {
					t.Errorf("%v links %s", c.pkgs, pkg)
				}
			}
		}
	}
}

// The check can fail: the packages that do use the heavy dependencies are
// seen to link them.
// Every adapter but mcp is listed above by name, so a new adapter is
// checked only once it is added there: this fails until it is.
func TestEveryAdapterIsChecked(t *testing.T) {
	want := map[string]bool{
		"github.com/jwtgate/jwtgate/adapters/echo":    true,
		"github.com/jwtgate/jwtgate/adapters/gin":     true,
		"github.com/jwtgate/jwtgate/adapters/nethttp": true,
		"github.com/jwtgate/jwtgate/adapters/mcp":     true,
	}
	out, err := exec.Command("go", "list", "../../adapters/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !want[pkg] {
			t.Errorf("%s is not in TestCoreLinksOnlyWhatItUses: add it there and here", pkg)
		}
	}
}

func TestCheckSeesHeavyDependencies(t *testing.T) {
	for pkg, want := range map[string]string{
		"../../ratelimit/redislimit": "github.com/redis/go-redis/",
		"../../replay/redisreplay":   "github.com/redis/go-redis/",
		"../../budget/redisbudget":   "github.com/redis/go-redis/",
		"../../metrics":              "github.com/prometheus/",
		"../../grpcauth":             "google.golang.org/grpc",
		"../../adapters/mcp":         mcpSDK,
		"../../policy":               "cel.dev/",
		"../../tracing":              "go.opentelemetry.io/",
	} {
		found := false
		for _, p := range deps(t, pkg) {
			found = found || strings.HasPrefix(p, want)
		}
		if !found {
			t.Errorf("%s does not link %s: the check would see nothing", pkg, want)
		}
	}
}
