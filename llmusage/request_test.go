package llmusage

import (
	stdjson "encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	for _, c := range []struct {
		body string
		want Request
	}{
		{`{"model":"gpt-4o","max_tokens":100}`, Request{Model: "gpt-4o", MaxTokens: 100}},
		{`{"model":"o3","max_completion_tokens":300,"stream":true,"stream_options":{"include_usage":true}}`, Request{Model: "o3", MaxTokens: 300, Stream: true, IncludeUsage: true}},
		{`{"model":"gpt-4.1","max_output_tokens":50}`, Request{Model: "gpt-4.1", MaxTokens: 50}},
		{`{"max_tokens":-1}`, Request{}},
		{`{"max_tokens":1.5}`, Request{}},
		{`{"max_tokens":1e12}`, Request{}},
		{`{"max_tokens":99999999999}`, Request{}},
		{`{"model":7,"stream":"true"}`, Request{}},
		// Usage in a request is the client's claim and is not even read.
		{`{"model":"m","usage":{"prompt_tokens":0,"completion_tokens":0}}`, Request{Model: "m"}},
	} {
		got, err := ParseRequest([]byte(c.body), 0)
		if err != nil || got != c.want {
			t.Errorf("ParseRequest(%s) = %+v, %v; want %+v", c.body, got, err, c.want)
		}
	}
	if _, err := ParseRequest([]byte(`[1]`), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("array: %v", err)
	}
	if _, err := ParseRequest([]byte(`{"model":"`+strings.Repeat("a", 100)+`"}`), 50); !errors.Is(err, ErrRequestTooLarge) {
		t.Errorf("over the bound: %v", err)
	}
}

func TestAddIncludeUsage(t *testing.T) {
	for _, c := range []struct {
		body    string
		changed bool
	}{
		{`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, true},
		{`{"model":"m","stream":true,"stream_options":{"include_usage":false}}`, true},
		{`{"model":"m","stream":true,"stream_options":null}`, true},
		{`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, false},
		{`{"model":"m","stream":false}`, false},
		{`{"model":"m"}`, false},
		{`{"model":"m","stream":true,"stream_options":"x"}`, false},
		{`not json`, false},
	} {
		out, changed := AddIncludeUsage([]byte(c.body), 0)
		if changed != c.changed {
			t.Errorf("AddIncludeUsage(%s) changed = %v", c.body, changed)
			continue
		}
		if !changed {
			if string(out) != c.body {
				t.Errorf("unchanged body rewritten: %s", out)
			}
			continue
		}
		req, err := ParseRequest(out, 0)
		if err != nil || !req.IncludeUsage || !req.Stream || req.Model != "m" {
			t.Errorf("rewritten %s: %+v, %v", out, req, err)
		}
		var before, after map[string]stdjson.RawMessage
		stdjson.Unmarshal([]byte(c.body), &before)
		stdjson.Unmarshal(out, &after)
		for k, v := range before {
			if k != "stream_options" && string(after[k]) != string(v) {
				t.Errorf("field %s changed: %s → %s", k, v, after[k])
			}
		}
	}
	long := `{"stream":true,"x":"` + strings.Repeat("a", 100) + `"}`
	if _, changed := AddIncludeUsage([]byte(long), 50); changed {
		t.Error("rewrote a body over the bound")
	}
}

func TestRequestIdentity(t *testing.T) {
	h := http.Header{"Accept-Encoding": {"gzip, br"}}
	RequestIdentity(h)
	if got := h.Values("Accept-Encoding"); len(got) != 1 || got[0] != "identity" {
		t.Fatalf("Accept-Encoding = %q", got)
	}
}
