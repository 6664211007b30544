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
		{`{"model":7,"stream":null}`, Request{}},
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

// Member names are read exactly, as strict-name upstreams (vLLM, LiteLLM:
// Python) read them; encoding/json would also match any letter case. A
// member the budget reads that is spelt in another case, or is given
// twice, is read differently by different upstreams (Go's encoding/json
// matches any case and keeps the last of two; Python keeps exact names;
// some parsers keep the first): ErrAmbiguousRequest, never a guess.
func TestParseRequestReadsExactNames(t *testing.T) {
	for _, body := range []string{
		`{"model":"m","stream":true,"Stream_Options":{"include_usage":true}}`,
		`{"model":"m","stream":true,"stream_options":{"Include_Usage":true}}`,
		`{"model":"m","stream":true,"STREAM_OPTIONS":{"include_usage":true}}`,
		`{"model":"m","Stream":true}`,
		`{"Model":"cheap","model":"dear"}`,
		`{"model":"m","Max_Tokens":5}`,
		`{"model":"m","max_completion_Tokens":5}`,
		`{"model":"m","MAX_OUTPUT_TOKENS":5}`,
		// encoding/json folds the long s and the Kelvin sign too.
		"{\"model\":\"m\",\"\u017ftream\":true}",
		"{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"stream_options\":{}}",
		`{"model":"m","stream":true,"stream_options":{"include_usage":false},"stream_options":{"include_usage":true}}`,
		`{"model":"m","stream":false,"stream":true}`,
		`{"model":"a","model":"b"}`,
		`{"max_tokens":1,"max_tokens":100000}`,
		`{"stream":true,"stream_options":{"include_usage":true,"include_usage":false}}`,
		`{"stream":true,"stream_options":{"include_usage":true,"INCLUDE_USAGE":false}}`,
		"{\"stream\":true,\"max_to\u212aens\":1}",
		// pydantic (vLLM) reads these as true, a strict upstream refuses them.
		`{"model":"m","stream":"true"}`, `{"model":"m","stream":1}`, `{"model":"m","stream":{}}`,
	} {
		if got, err := ParseRequest([]byte(body), 0); !errors.Is(err, ErrAmbiguousRequest) {
			t.Errorf("ParseRequest(%s) = %+v, %v; want ErrAmbiguousRequest", body, got, err)
		}
		if out, changed := AddIncludeUsage([]byte(body), 0); changed || string(out) != body {
			t.Errorf("AddIncludeUsage(%s) rewrote it: %s", body, out)
		}
	}
	for body, want := range map[string]Request{
		// Escapes are decoded before names are compared, by every parser.
		`{"stream":true,"stream\u005foptions":{"include\u005fusage":true}}`: {Stream: true, IncludeUsage: true},
		// Members not read are not our business, whatever their case or
		// number.
		`{"model":"m","Messages":[],"messages":[],"messages":[],"USAGE":1}`:          {Model: "m"},
		`{"model":"m","stream_options":{"Continuous_Usage_Stats":true,"x":1,"x":2}}`: {Model: "m"},
		`{"model":"m","streaming":true,"modelx":"y"}`:                                {Model: "m"},
	} {
		if got, err := ParseRequest([]byte(body), 0); err != nil || got != want {
			t.Errorf("ParseRequest(%s) = %+v, %v; want %+v", body, got, err, want)
		}
	}
	for _, body := range []string{`{"model":"m"} {}`, `{"model":"m"`, `{"model":"m",}`, ` `, `{"a":1}x`} {
		if _, err := ParseRequest([]byte(body), 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRequest(%q): %v, want ErrMalformed", body, err)
		}
	}
}

// AddIncludeUsage changes only stream_options: every other byte of the
// body (member order, spacing, escapes) reaches the upstream as the client
// sent it, so nothing else can be read differently after the rewrite.
func TestAddIncludeUsageKeepsEveryOtherByte(t *testing.T) {
	for in, want := range map[string]string{
		`{"model":"m", "stream": true , "messages":[{"content":"<b>&\u00e9"}]}`: `{"stream_options":{"include_usage":true},"model":"m", "stream": true , "messages":[{"content":"<b>&\u00e9"}]}`,
		`{"stream":true,"stream_options":null,"n":1}`:                           `{"stream":true,"stream_options":{"include_usage":true},"n":1}`,
		`{"stream":true,"stream_options": { } }`:                                `{"stream":true,"stream_options": {"include_usage":true} }`,
		`{"stream":true,"stream_options":{"continuous_usage_stats":true}}`:      `{"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`,
		`{"stream":true,"stream_options":{"include_usage":false, "x":[1,2]}}`:   `{"stream":true,"stream_options":{"include_usage":true, "x":[1,2]}}`,
		`{"stream":true,"stream_options":{"include_usage":null}}`:               `{"stream":true,"stream_options":{"include_usage":true}}`,
		`{"stream":true,"stream_options":{"include_usage":"true"}}`:             `{"stream":true,"stream_options":{"include_usage":true}}`,
		"\n\t{ \"stream\" :\ttrue }\r\n":                                        "\n\t{\"stream_options\":{\"include_usage\":true}, \"stream\" :\ttrue }\r\n",
		`{"messages":[],"messages":[{"role":"user"}],"stream":true}`:            `{"stream_options":{"include_usage":true},"messages":[],"messages":[{"role":"user"}],"stream":true}`,
		`{"stream":true,"stream\u005foptions":{"include\u005fusage":0}}`:        `{"stream":true,"stream\u005foptions":{"include\u005fusage":true}}`,
	} {
		out, changed := AddIncludeUsage([]byte(in), 0)
		if !changed || string(out) != want {
			t.Errorf("AddIncludeUsage(%q)\n got %q, %v\nwant %q", in, out, changed, want)
			continue
		}
		if req, err := ParseRequest(out, 0); err != nil || !req.Stream || !req.IncludeUsage {
			t.Errorf("rewritten %s reads %+v, %v", out, req, err)
		}
	}
}
