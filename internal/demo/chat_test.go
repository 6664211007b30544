package demo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/llmusage"
)

// The demo's chat completions must be what the gateway's budget reads:
// llmusage finds the usage in the JSON body and in the streamed usage
// chunk, and a stream not asking for it has none.
func TestChatCompletionsReportUsage(t *testing.T) {
	srv := httptest.NewServer(NewUpstream(UpstreamConfig{Interval: -1}))
	defer srv.Close()
	for _, c := range []struct {
		name, body string
		stream     bool
		wantUsage  bool
	}{
		{"json", `{"model":"m1","messages":[{"role":"user","content":"hi"}]}`, false, true},
		{"stream with usage", `{"model":"m1","stream":true,"stream_options":{"include_usage":true}}`, true, true},
		{"stream without usage", `{"model":"m1","stream":true}`, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			ct := resp.Header.Get("Content-Type")
			if resp.StatusCode != 200 || llmusage.IsEventStream(ct) != c.stream {
				t.Fatalf("status %d content type %q", resp.StatusCode, ct)
			}
			tap, err := llmusage.NewTap(llmusage.TapConfig{Format: llmusage.OpenAIChat, ContentType: ct})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(io.TeeReader(resp.Body, tap))
			u, ok := tap.Usage()
			if ok != c.wantUsage {
				t.Fatalf("usage ok = %v (%v), want %v: %s", ok, tap.Err(), c.wantUsage, b)
			}
			if ok && (u.Input != ChatPromptTokens || u.Output != ChatCompletionTokens || u.Model != "m1") {
				t.Errorf("usage = %+v", u)
			}
			if c.stream && !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
				t.Errorf("stream does not end in [DONE]: %s", b)
			}
			if !c.stream && !strings.Contains(string(b), "Hello from the jwtgate demo upstream.") {
				t.Errorf("body %s", b)
			}
		})
	}
}

func TestChatCompletionsRefusesBadRequests(t *testing.T) {
	srv := httptest.NewServer(NewUpstream(UpstreamConfig{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader("not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad JSON: %d", resp.StatusCode)
	}
}
