package middleware

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/MicahParks/jwkset"
)

// captureHandler is a slog.Handler that keeps every record.
type captureHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

// TestNewWarnsWhenIssOrAudUnchecked: a Verifier that accepts any iss or any
// aud takes tokens another issuer, or the same issuer for another audience,
// minted (RFC 8725 §3.9). That is allowed (some deployments have one
// audience-less IdP) but New says so once, at Warn, naming what is open.
func TestNewWarnsWhenIssOrAudUnchecked(t *testing.T) {
	store := jwkset.NewMemoryStorage()
	for _, tc := range []struct {
		name      string
		cfg       Config
		unchecked string // "" : no warning
	}{
		{"both checked", Config{Keys: store, Issuers: []string{"https://idp.test/"}, Audiences: []string{"api"}}, ""},
		{"KeysByIssuer and Audiences", Config{KeysByIssuer: map[string]jwkset.Storage{"https://a.test/": store}, Audiences: []string{"api"}}, ""},
		{"neither", Config{Keys: store}, "iss,aud"},
		{"no Audiences", Config{Keys: store, Issuers: []string{"https://idp.test/"}}, "aud"},
		{"KeysByIssuer, no Audiences", Config{KeysByIssuer: map[string]jwkset.Storage{"https://a.test/": store}}, "aud"},
		{"no Issuers", Config{Keys: store, Audiences: []string{"api"}}, "iss"},
		{"HS256 only, neither", Config{Algorithms: []string{"HS256"}, HMACSecret: make([]byte, 32)}, "iss,aud"},
	} {
		h := &captureHandler{}
		tc.cfg.Logger = slog.New(h)
		if _, err := New(tc.cfg); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.unchecked == "" {
			if len(h.records) != 0 {
				t.Errorf("%s: logged %d records, want none", tc.name, len(h.records))
			}
			continue
		}
		if len(h.records) != 1 {
			t.Errorf("%s: logged %d records, want one", tc.name, len(h.records))
			continue
		}
		r := h.records[0]
		got := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "unchecked" {
				got = a.Value.String()
			}
			return true
		})
		if r.Level != slog.LevelWarn || got != tc.unchecked {
			t.Errorf("%s: %v %q unchecked=%q, want Warn unchecked=%q", tc.name, r.Level, r.Message, got, tc.unchecked)
		}
	}
	// A bad Config is an error, not a warning.
	h := &captureHandler{}
	if _, err := New(Config{Logger: slog.New(h), MaxTokenSize: -1}); err == nil || len(h.records) != 0 {
		t.Errorf("bad config: err %v, %d records", err, len(h.records))
	}
}
