package proxytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNginxAndCaddyServeTheirConfig(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream "+r.URL.Path) }))
	defer up.Close()
	n := Nginx(t, `location / { proxy_pass `+up.URL+`; }`)
	if st, body := get(t, n.URL+"/a"); st != 200 || body != "upstream /a" {
		t.Fatalf("nginx: %d %q\n%s", st, body, n.Output())
	}
	c := Caddy(t, "\treverse_proxy "+up.Listener.Addr().String())
	if st, body := get(t, c.URL+"/b"); st != 200 || body != "upstream /b" {
		t.Fatalf("caddy: %d %q\n%s", st, body, c.Output())
	}
	n.Stop()
	if _, err := http.Get(n.URL + "/a"); err == nil {
		t.Fatal("nginx still answers after Stop")
	}
	http.DefaultClient.CloseIdleConnections()
}
