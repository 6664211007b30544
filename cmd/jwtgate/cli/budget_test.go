package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
)

var budgetCurlLine = regexp.MustCompile(`(?m)^curl -H "Authorization: Bearer ([A-Za-z0-9_.-]+)" -H "Content-Type: application/json" -d '([^']+)' (http://\S+)$`)

// The demo prints a curl line whose fourth run is refused by the demo
// route's budget; it works as printed.
func TestDemoBudgetLineRunsDown(t *testing.T) {
	var stdout gwtest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-listen", "127.0.0.1:0"}, Env{
			Stdout: &stdout, Stderr: io.Discard, Options: gateway.Options{Logger: quiet},
			OnServe: func(ServeEvent) { close(served) },
		})
	}()
	defer func() {
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("exit %d", code)
		}
	}()
	select {
	case <-served:
	case code := <-done:
		done <- code
		t.Fatalf("Run exited %d before serving", code)
	}
	out := stdout.String()
	m := budgetCurlLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "the 4th answers 429") || !strings.Contains(out, "dollar budget ($0.00027 an hour; demo-mini at $1/$4 per million") {
		t.Fatalf("no budget curl line in:\n%s", out)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 1; i <= 4; i++ {
		req, _ := http.NewRequest(http.MethodPost, m[3], strings.NewReader(m[2]))
		req.Header.Set("Authorization", "Bearer "+m[1])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusOK
		if i == 4 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("run %d: %d, want %d: %s", i, resp.StatusCode, want, body)
		}
		// What is left, in micro-dollars, before each answer of $0.00009.
		if got, want := resp.Header.Get("RateLimit"), fmt.Sprintf(`"subject";r=%d;`, max(270-90*(i-1), 0)); !strings.HasPrefix(got, want) {
			t.Fatalf("run %d: RateLimit %q, want %s…", i, got, want)
		}
	}
}
