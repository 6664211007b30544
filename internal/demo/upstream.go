package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// UpstreamConfig configures the demo upstream. The zero value is usable.
type UpstreamConfig struct {
	// Events is how many server-sent events a stream sends. 0 means 5.
	Events int
	// Interval is the pause between two events, so a client can watch them
	// arrive one by one. 0 means 300ms; negative means no pause.
	Interval time.Duration
}

// NewUpstream returns the demo upstream. A path ending in
// "/chat/completions" is an OpenAI-compatible Chat Completions endpoint
// (JSON, or a stream with "stream": true) whose answers report a fixed
// usage (see serveChat). Any other path ending in "/stream" (or a request
// with "Accept: text/event-stream") gets a server-sent-events stream of
// Events events, each flushed as it is written, like an LLM API streaming
// a completion. Every other request gets a JSON echo of the method, path,
// the X-* headers it received (the claims the gateway forwards) and whether
// it carried an Authorization header and of which scheme — never its value.
func NewUpstream(cfg UpstreamConfig) http.Handler {
	if cfg.Events <= 0 {
		cfg.Events = 5
	}
	if cfg.Interval == 0 {
		cfg.Interval = 300 * time.Millisecond
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			serveChat(w, r, cfg)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/stream") || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			serveStream(w, r, cfg)
			return
		}
		serveEcho(w, r)
	})
}

func serveEcho(w http.ResponseWriter, r *http.Request) {
	forwarded := map[string]string{}
	for name, vs := range r.Header {
		if strings.HasPrefix(name, "X-") && name != "X-Forwarded-For" {
			forwarded[name] = strings.Join(vs, ", ")
		}
	}
	auth := "none"
	if a := r.Header.Get("Authorization"); a != "" {
		auth, _, _ = strings.Cut(a, " ")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"upstream":      "demo",
		"method":        r.Method,
		"path":          r.URL.Path,
		"headers":       forwarded,
		"authorization": auth,
	})
}

func serveStream(w http.ResponseWriter, r *http.Request, cfg UpstreamConfig) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	// Name the subject the gateway forwarded, if it did, so the demo shows
	// claims reaching the upstream.
	who := r.Header.Get("X-Jwtgate-Subject")
	if who == "" {
		who = "anonymous"
	}
	whoJSON, _ := json.Marshal(who) // a string always marshals
	var pace pacer
	defer pace.stop()
	for i := 1; i <= cfg.Events; i++ {
		if i > 1 && !pace.wait(r.Context(), cfg.Interval) {
			return
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: token\ndata: {\"n\":%d,\"of\":%d,\"for\":%s}\n\n", i, i, cfg.Events, whoJSON); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	_, _ = fmt.Fprint(w, "event: done\ndata: [DONE]\n\n")
	_ = rc.Flush()
}

// pacer spaces a stream's events: one reused timer, stopped by stop.
type pacer struct{ timer *time.Timer }

// wait waits d (nothing for d ≤ 0) and reports false when ctx ends first
// (the client left).
func (p *pacer) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		return false
	case <-p.timer.C:
		return true
	}
}

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}
