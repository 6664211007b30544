package llmusage

import (
	"bytes"
	"encoding/json"
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
		`{"usage":{"prompt_tokens":1,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":8}}}`,
		`{"usage":{"input_tokens":1,"output_tokens":9,"output_tokens_details":{"reasoning_tokens":10}}}`,
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
	if ok && u.Reasoning > u.Output {
		t.Fatalf("reasoning above output in %+v", u)
	}
	for _, n := range []int64{u.Output, u.CachedInput, u.CacheWrite, u.Reasoning} {
		if n < 0 || n > MaxTokens {
			t.Fatalf("count %d out of range in %+v", n, u)
		}
	}
	if u.Input < 0 || u.Input > 3*MaxTokens || (ok && u.CachedInput+u.CacheWrite > u.Input) {
		t.Fatalf("usage %+v out of range", u)
	}
}

// FuzzRequest: a body ParseRequest accepts is read the same way by Go's
// encoding/json (any letter case, last of two wins) and by an exact-name
// reader (Python's json into a dict), so no upstream reads it differently;
// and AddIncludeUsage changes stream_options and nothing else.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","stream":true}`,
		`{"model":"m","stream":true,"Stream_Options":{"include_usage":true}}`,
		`{"model":"m","stream":true,"stream_options":{"Include_Usage":true}}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}`,
		`{"stream":true,"stream_options":null,"max_tokens":5,"MAX_TOKENS":7}`,
		`{"stream":true,"stream_options":{},"stream_options":{"include_usage":true}}`,
		`{"stream":true,"stream\u005foptions":{"include\u005fusage":0}}`,
		"{\"\u017ftream\":true,\"max_to\u212aens\":1}",
		`{"model":"a","model":"b","stream":"true"}`,
		` {"messages":[{"role":"user","content":"<b>"}],"messages":[], "stream" : true } `,
		`{"max_completion_tokens":10,"max_output_tokens":1e3,"stream":false}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		req, err := ParseRequest([]byte(s), 0)
		if err == nil {
			var folded struct {
				Model         json.RawMessage `json:"model"`
				Stream        json.RawMessage `json:"stream"`
				StreamOptions json.RawMessage `json:"stream_options"`
				MaxTokens     json.RawMessage `json:"max_tokens"`
				MaxCompletion json.RawMessage `json:"max_completion_tokens"`
				MaxOutput     json.RawMessage `json:"max_output_tokens"`
			}
			var exact map[string]json.RawMessage
			if json.Unmarshal([]byte(s), &folded) != nil || json.Unmarshal([]byte(s), &exact) != nil {
				t.Fatalf("accepted %q, which encoding/json refuses", s)
			}
			for name, v := range map[string]json.RawMessage{
				"model": folded.Model, "stream": folded.Stream, "stream_options": folded.StreamOptions,
				"max_tokens": folded.MaxTokens, "max_completion_tokens": folded.MaxCompletion, "max_output_tokens": folded.MaxOutput,
			} {
				if string(v) != string(exact[name]) {
					t.Fatalf("%q: %s reads %s by any case, %s by exact name", s, name, v, exact[name])
				}
			}
			if len(folded.StreamOptions) > 0 && folded.StreamOptions[0] == '{' {
				var f struct {
					IncludeUsage json.RawMessage `json:"include_usage"`
				}
				var e map[string]json.RawMessage
				json.Unmarshal(folded.StreamOptions, &f)
				json.Unmarshal(folded.StreamOptions, &e)
				if string(f.IncludeUsage) != string(e["include_usage"]) {
					t.Fatalf("%q: include_usage reads %s by any case, %s by exact name", s, f.IncludeUsage, e["include_usage"])
				}
			}
		}
		out, changed := AddIncludeUsage([]byte(s), 0)
		if !changed {
			if string(out) != s {
				t.Fatalf("unchanged but rewritten: %q → %q", s, out)
			}
			return
		}
		after, err := ParseRequest(out, 0)
		if err != nil || !after.Stream || !after.IncludeUsage || after.Model != req.Model || after.MaxTokens != req.MaxTokens {
			t.Fatalf("%q → %q reads %+v, %v (was %+v)", s, out, after, err, req)
		}
		if a, b := membersBut(t, []byte(s), "stream_options"), membersBut(t, out, "stream_options"); !slices.Equal(a, b) {
			t.Fatalf("%q → %q changed other members:\n%q\n%q", s, out, a, b)
		}
	})
}

// membersBut lists an object's members, name and raw value as sent, in
// order, leaving out the one named skip.
func membersBut(t *testing.T, body []byte, skip string) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.Token()
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if tok != skip {
			out = append(out, tok.(string)+"="+string(raw))
		}
	}
	return out
}
