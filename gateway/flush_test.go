package gateway

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/demo"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// pieceUpstream answers every request with first, flushed, and writes
// second only once release is closed: a client that reads first before then
// got it without the gateway waiting for the rest. How it frames the answer
// is up to frame, which writes the headers.
func pieceUpstream(t *testing.T, release chan struct{}, frame func(w http.ResponseWriter) (first, second string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first, second := frame(w)
		io.WriteString(w, first)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, second)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Every stream reaches the client piece by piece, whatever its framing:
// ReverseProxy flushes at once for text/event-stream and for any answer of
// unknown length (chunked, or read to EOF), with no FlushInterval of the
// gateway's own.
func TestStreamsArriveAtOnce(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "streamer"})
	for _, c := range []struct {
		name  string
		frame func(w http.ResponseWriter) (string, string)
	}{
		{"server-sent events", func(w http.ResponseWriter) (string, string) {
			w.Header().Set("Content-Type", "text/event-stream")
			return "data: first\n\n", "data: second\n\n"
		}},
		{"chunked ndjson of unknown length", func(w http.ResponseWriter) (string, string) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			return "{\"n\":1}\n", "{\"n\":2}\n"
		}},
		{"chunked plain text of unknown length", func(w http.ResponseWriter) (string, string) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			return "first\n", "second\n"
		}},
		{"no length, read to EOF", func(w http.ResponseWriter) (string, string) {
			// HTTP/1.0-style: no Content-Length, no chunking, the body
			// ends when the connection closes.
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Connection", "close")
			w.Header().Set("Transfer-Encoding", "identity")
			return "first\n", "second\n"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			release := make(chan struct{})
			up := pieceUpstream(t, release, c.frame)
			g := startGateway(t, Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(),
				Routes: []Route{{Prefix: "/", Upstream: up.URL}}}, nil)
			g.waitReady(t)
			req, _ := http.NewRequest(http.MethodGet, g.url+"/stream", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := g.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ContentLength != -1 {
				t.Fatalf("Content-Length %d: not a stream", resp.ContentLength)
			}
			r := bufio.NewReader(resp.Body)
			first, _ := c.frame(httptest.NewRecorder())
			// The upstream is blocked on release: this read only succeeds
			// if the gateway flushed the first piece on its own.
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(first, line) {
				t.Fatalf("first line %q, %v", line, err)
			}
			close(release)
			if rest, err := io.ReadAll(r); err != nil || !strings.Contains(string(rest), "2") && !strings.Contains(string(rest), "second") {
				t.Fatalf("rest %q, %v", rest, err)
			}
		})
	}
}

// The demo's streams (its server-sent events and its streamed chat
// completions) arrive event by event through the gateway: with an hour
// between two events, the first one must come through alone.
func TestDemoStreamsArriveEventByEvent(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	up := httptest.NewServer(demo.NewUpstream(demo.UpstreamConfig{Events: 3, Interval: time.Hour}))
	t.Cleanup(up.Close)
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(),
		Routes: []Route{{Prefix: "/llm/", Upstream: up.URL, StripPrefix: true}}}, nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "watcher"})
	for _, c := range []struct {
		method, path, body, want string
	}{
		{http.MethodGet, "/llm/stream", "", `"n":1`},
		{http.MethodPost, "/llm/v1/chat/completions", `{"stream":true}`, `"chat.completion.chunk"`},
	} {
		t.Run(c.path, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, g.url+c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := g.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			// Closing the body cancels the upstream's hour-long wait.
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("stream ended before its first event: %v", err)
				}
				if strings.Contains(line, c.want) {
					return
				}
			}
		})
	}
}

// flushRecorder is a ResponseWriter that counts flushes.
type flushRecorder struct {
	h       http.Header
	code    int
	body    strings.Builder
	flushes int
}

func (w *flushRecorder) Header() http.Header { return w.h }
func (w *flushRecorder) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}
func (w *flushRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *flushRecorder) Flush() { w.flushes++ }

// answerTransport answers every proxied request with body, of known length
// or not, as ct.
type answerTransport struct {
	ct, body    string
	knownLength bool
}

func (a answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	n := int64(-1)
	if a.knownLength {
		n = int64(len(a.body))
	}
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {a.ct}},
		Body: io.NopCloser(strings.NewReader(a.body)), ContentLength: n, Request: r,
	}, nil
}

// An answer of known length costs no flush of the gateway's own (net/http
// sends it when the handler returns); an answer of unknown length or an
// event stream is flushed at once, also through the budget's usage tap.
func TestKnownLengthAnswerIsNotFlushed(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	tok := "Bearer " + p.Mint(t, jwtgatetest.Claims{Subject: "counter", Scopes: []string{"read"}})
	const chat = `{"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`
	const sse = "data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n"
	for _, c := range []struct {
		name        string
		budget      bool
		answer      answerTransport
		wantFlushes bool
	}{
		{"known length", false, answerTransport{"application/json", `{"ok":true}`, true}, false},
		{"unknown length", false, answerTransport{"application/json", `{"ok":true}`, false}, true},
		{"event stream of known length", false, answerTransport{"text/event-stream", "data: x\n\n", true}, true},
		{"budget route, known length", true, answerTransport{"application/json", chat, true}, false},
		{"budget route, event stream", true, answerTransport{"text/event-stream", sse, false}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rt := Route{Prefix: "/", Upstream: "http://upstream.invalid"}
			path := "/items"
			if c.budget {
				rt.Budget = &RouteBudget{Limit: 1000, Window: "day"}
				path = "/v1/chat/completions"
			}
			cfg, err := Config{Issuer: p.Issuer(), Routes: []Route{rt}}.Validate(nil)
			if err != nil {
				t.Fatal(err)
			}
			g, err := New(t.Context(), cfg, Options{Logger: quiet, Transport: c.answer})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { g.Close() })
			waitReady(t, g)
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"model":"gpt-4o"}`))
			req.Header.Set("Authorization", tok)
			w := &flushRecorder{h: http.Header{}}
			g.Handler().ServeHTTP(w, req)
			if w.code != http.StatusOK || w.body.String() != c.answer.body {
				t.Fatalf("%d %q", w.code, w.body.String())
			}
			if got := w.flushes > 0; got != c.wantFlushes {
				t.Errorf("%d flushes, want flushes: %v", w.flushes, c.wantFlushes)
			}
		})
	}
}
