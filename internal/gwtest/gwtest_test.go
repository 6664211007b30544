package gwtest_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internal/tbrecord"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const prefix = "X-Jwtgate-"

// The spoofing check fails for each thing it exists to catch, and passes
// for the upstream a correct gateway leaves.
func TestCheckNoSpoofCanFail(t *testing.T) {
	for _, c := range []struct {
		name string
		h    http.Header
		want map[string]string
		fail bool
	}{
		{"clean", http.Header{"X-Jwtgate-Subject": {"alice"}, "X-Other": {"x"}}, map[string]string{"X-Jwtgate-Subject": "alice"}, false},
		{"a spoofed value under another name", http.Header{"X-Other": {"spoof-lower"}}, nil, true},
		{"a reserved header not configured", http.Header{"X_jwtgate_scope": {"read"}}, nil, true},
		{"a configured one twice", http.Header{"X-Jwtgate-Subject": {"alice", "alice"}}, map[string]string{"X-Jwtgate-Subject": "alice"}, true},
		{"a configured one missing", http.Header{}, map[string]string{"X-Jwtgate-Subject": "alice"}, true},
		{"a configured one with another value", http.Header{"X-Jwtgate-Subject": {"bob"}}, map[string]string{"X-Jwtgate-Subject": "alice"}, true},
	} {
		res := tbrecord.Run(t, func(tb testing.TB) { gwtest.CheckNoSpoof(tb, c.h, prefix, c.want) })
		if res.Failed != c.fail {
			t.Errorf("%s: failed %v, want %v (%s)", c.name, res.Failed, c.fail, res.Log)
		}
	}
	for i := 1; i < len(gwtest.Spoofs); i += 2 {
		if !strings.Contains(gwtest.Spoofs[i], "spoof") && gwtest.Spoofs[i-1] != "Connection" {
			t.Errorf("Spoofs value %q: CheckNoSpoof would not see it", gwtest.Spoofs[i])
		}
	}
}

// The upstream echoes, holds /slow until released and streams /sse's
// first event before its release.
func TestUpstream(t *testing.T) {
	up := gwtest.StartUpstream(t)
	status, body := gwtest.GetRaw(t, up.Client(), up.URL+"/echo", "tok", "X-Test", "1")
	h := gwtest.UpstreamHeaders(t, body)
	if status != http.StatusOK || h.Get("Authorization") != "Bearer tok" || h.Get("X-Test") != "1" {
		t.Fatalf("echo: %d %s", status, body)
	}

	slow := make(chan string, 1)
	go func() {
		resp, err := up.Client().Get(up.URL + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-up.Started
	select {
	case b := <-slow:
		t.Fatalf("/slow answered %q before its release", b)
	default:
	}
	up.Release <- struct{}{}
	if b := <-slow; b != "done" {
		t.Errorf("/slow: %q", b)
	}

	resp, err := up.Client().Get(up.URL + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "data: first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(up.Release)
	if rest, err := io.ReadAll(r); err != nil || !strings.Contains(string(rest), "data: second") {
		t.Errorf("after the release: %q, %v", rest, err)
	}
}

func TestReadDocs(t *testing.T) {
	b, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	// The README's title and a page's under docs/.
	for _, want := range []string{"# jwtgate\n", "# Configuration reference\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("ReadDocs has no %q", want)
		}
	}
}
