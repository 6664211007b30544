package demo

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestUpstreamEchoHidesAuthorizationValue(t *testing.T) {
	srv := httptest.NewServer(NewUpstream(UpstreamConfig{}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/hello", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("X-Jwtgate-Subject", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(body), "s3cret") {
		t.Fatalf("echo leaks the credential: %s", body)
	}
	var out struct {
		Path          string            `json:"path"`
		Headers       map[string]string `json:"headers"`
		Authorization string            `json:"authorization"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if out.Path != "/api/hello" || out.Headers["X-Jwtgate-Subject"] != "alice" || out.Authorization != "Bearer" {
		t.Fatalf("echo = %+v", out)
	}
}

// The stream must reach the client event by event: read the first event
// while the upstream still has events to send (a long Interval keeps it
// open), then leave.
func TestUpstreamStreamsEventByEvent(t *testing.T) {
	srv := httptest.NewServer(NewUpstream(UpstreamConfig{Events: 3, Interval: time.Hour}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/llm/stream", nil)
	req.Header.Set("X-Jwtgate-Subject", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", lines, err)
		}
		if line == "\n" {
			break
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	want := []string{"id: 1", "event: token", `data: {"n":1,"of":3,"for":"alice"}`}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("first event = %q, want %q", lines, want)
	}
}

func TestUpstreamStreamCompletes(t *testing.T) {
	srv := httptest.NewServer(NewUpstream(UpstreamConfig{Events: 4, Interval: -1}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/x/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if n := strings.Count(string(body), "event: token"); n != 4 {
		t.Errorf("%d token events, want 4:\n%s", n, body)
	}
	if !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("stream does not end with [DONE]:\n%s", body)
	}
}
