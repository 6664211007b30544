package llmusage

import (
	"errors"
	"slices"
	"testing"
)

// FuzzSSE: the parser never panics, never keeps more than its bound, and
// gives the same events whatever the split.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{chatStream, anthropicStream, responsesStream,
		"data: a\r\n\r", "\xef\xbb\xbfdata:x\r\r", ": c\n\nevent: e\ndata\n\n", "data: a\rdata: b\n\n"} {
		f.Add(s, uint16(3))
	}
	f.Fuzz(func(t *testing.T, s string, split uint16) {
		whole := parseAll(s)
		i := int(split) % (len(s) + 1)
		if got := parseAll(s[:i], s[i:]); !slices.Equal(got, whole) {
			t.Fatalf("split at %d: %q vs %q", i, got, whole)
		}
		for _, e := range whole {
			if len(e.data) > 1<<10 {
				t.Fatalf("event of %d bytes dispatched past the bound", len(e.data))
			}
		}
		for _, fm := range []Format{OpenAIChat, OpenAIResponses, AnthropicMessages} {
			tap, _ := NewTap(TapConfig{Format: fm, ContentType: "text/event-stream", MaxEvent: 1 << 10})
			tap.Write([]byte(s))
			checkUsage(t, tap)
		}
	})
}

// FuzzUsageBody: the JSON usage readers never panic and never report a
// count outside [0, MaxTokens] or cached tokens above the input.
func FuzzUsageBody(f *testing.F) {
	for _, s := range []string{
		`{"usage":{"prompt_tokens":11,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":3}}}`,
		`{"usage":{"input_tokens":9,"output_tokens":4,"input_tokens_details":{"cached_tokens":1}}}`,
		`{"usage":{"input_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":7,"output_tokens":9}}`,
		`{"usage":{"prompt_tokens":-1}}`, `{"usage":{"prompt_tokens":1e99}}`, `{"usage":null}`, `[]`, `{"usage":[1]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fm := range []Format{OpenAIChat, OpenAIResponses, AnthropicMessages} {
			tap, _ := NewTap(TapConfig{Format: fm, ContentType: "application/json"})
			tap.Write([]byte(s))
			checkUsage(t, tap)
		}
		ParseRequest([]byte(s), 0)
		AddIncludeUsage([]byte(s), 0)
	})
}

func checkUsage(t *testing.T, tap *Tap) {
	u, ok := tap.Usage()
	if ok && tap.Err() != nil && !errors.Is(tap.Err(), ErrCapped) {
		t.Fatalf("ok with error %v", tap.Err())
	}
	if !ok && tap.Err() == nil {
		t.Fatal("not ok without a reason")
	}
	for _, n := range []int64{u.Output, u.CachedInput, u.CacheWrite} {
		if n < 0 || n > MaxTokens {
			t.Fatalf("count %d out of range in %+v", n, u)
		}
	}
	if u.Input < 0 || u.Input > 3*MaxTokens || (ok && u.CachedInput+u.CacheWrite > u.Input) {
		t.Fatalf("usage %+v out of range", u)
	}
}
