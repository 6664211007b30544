package llmusage

import (
	"errors"
	"strings"
	"testing"
)

const (
	sse    = "text/event-stream; charset=utf-8"
	ctJSON = "application/json"
)

func tapAll(t *testing.T, f Format, ct, body string) (*Tap, Usage, bool) {
	t.Helper()
	tap, err := NewTap(TapConfig{Format: f, ContentType: ct})
	if err != nil {
		t.Fatal(err)
	}
	// A byte at a time: the worst split a proxy can produce.
	for i := range len(body) {
		if n, err := tap.Write([]byte{body[i]}); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	u, ok := tap.Usage()
	return tap, u, ok
}

const chatStream = `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100}}}

data: [DONE]

`

const anthropicStream = "event: message_start\r\n" +
	`data: {"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":25,"cache_creation_input_tokens":10,"cache_read_input_tokens":200,"output_tokens":1}}}` + "\r\n\r\n" +
	"event: content_block_delta\r\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"usage"}}` + "\r\n\r\n" +
	"event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n" +
	"event: message_delta\r\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":7}}` + "\r\n\r\n" +
	"event: message_delta\r\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}` + "\r\n\r\n" +
	"event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"

const responsesStream = `event: response.created
data: {"type":"response.created","response":{"id":"r1","model":"gpt-4.1","status":"in_progress","usage":null}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","delta":"Hello"}

event: response.completed
data: {"type":"response.completed","response":{"id":"r1","model":"gpt-4.1","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Hello"}]}],"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":8},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":52}}}

`

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		name   string
		format Format
		ct     string
		body   string
		want   Usage
	}{
		{"openai chat body", OpenAIChat, ctJSON,
			`{"id":"x","model":"gpt-4o","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":3}}}`,
			Usage{Model: "gpt-4o", Input: 11, Output: 5, CachedInput: 3}},
		{"openai chat body with reasoning", OpenAIChat, ctJSON,
			`{"model":"o4-mini","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":300,"completion_tokens_details":{"reasoning_tokens":256}}}`,
			Usage{Model: "o4-mini", Input: 50, Output: 300, Reasoning: 256}},
		{"openai responses body with reasoning", OpenAIResponses, ctJSON,
			`{"model":"o3","output":[],"usage":{"input_tokens":9,"output_tokens":70,"output_tokens_details":{"reasoning_tokens":64}}}`,
			Usage{Model: "o3", Input: 9, Output: 70, Reasoning: 64}},
		{"openai chat stream with include_usage", OpenAIChat, sse, chatStream,
			Usage{Model: "gpt-4o-mini", Input: 120, Output: 30, CachedInput: 100}},
		{"openai responses body", OpenAIResponses, ctJSON,
			`{"id":"r","object":"response","model":"gpt-4.1","output":[],"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":0},"output_tokens":4,"total_tokens":13}}`,
			Usage{Model: "gpt-4.1", Input: 9, Output: 4}},
		{"openai responses stream", OpenAIResponses, sse, responsesStream,
			Usage{Model: "gpt-4.1", Input: 40, Output: 12, CachedInput: 8, Reasoning: 4}},
		{"anthropic body", AnthropicMessages, ctJSON,
			`{"id":"m","type":"message","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":7,"output_tokens":9}}`,
			Usage{Model: "claude-haiku-4-5", Input: 32, Output: 9, CachedInput: 7, CacheWrite: 5}},
		// message_delta counts are cumulative: 7 then 15 is 15, not 22.
		{"anthropic stream, two message_delta count once", AnthropicMessages, sse, anthropicStream,
			Usage{Model: "claude-sonnet-4-5", Input: 235, Output: 15, CachedInput: 200, CacheWrite: 10}},
		{"anthropic stream, delta carrying input too", AnthropicMessages, sse,
			"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n" +
				"data: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":6,\"output_tokens\":3}}\n\n",
			Usage{Input: 6, Output: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tap, u, ok := tapAll(t, c.format, c.ct, c.body)
			if !ok || u != c.want || tap.Err() != nil {
				t.Fatalf("Usage = %+v, %v (err %v), want %+v", u, ok, tap.Err(), c.want)
			}
		})
	}
}

// A missing usage is ok == false with a reason, never a zero Usage that
// would charge nothing.
func TestMissingUsage(t *testing.T) {
	for _, c := range []struct {
		name   string
		format Format
		ct     string
		body   string
		want   error
	}{
		{"chat body without usage", OpenAIChat, ctJSON, `{"choices":[]}`, ErrNoUsage},
		{"chat body usage null", OpenAIChat, ctJSON, `{"usage":null}`, ErrNoUsage},
		{"chat body usage without counts", OpenAIChat, ctJSON, `{"usage":{}}`, ErrNoUsage},
		{"chat stream without include_usage", OpenAIChat, sse, "data: {\"choices\":[{}]}\n\ndata: [DONE]\n\n", ErrNoUsage},
		{"chat stream cut before the usage chunk", OpenAIChat, sse, chatStream[:strings.Index(chatStream, `"choices":[]`)], ErrNoUsage},
		{"responses stream cut", OpenAIResponses, sse, responsesStream[:strings.Index(responsesStream, "event: response.completed")], ErrNoUsage},
		{"anthropic stream cut after message_start", AnthropicMessages, sse, anthropicStream[:strings.Index(anthropicStream, "event: content_block_delta")], ErrIncomplete},
		{"not json", OpenAIChat, ctJSON, `<html>502</html>`, ErrMalformed},
		{"empty body", AnthropicMessages, ctJSON, ``, ErrMalformed},
		{"usage event not json", OpenAIChat, sse, "data: {\"usage\": oops}\n\n", ErrMalformed},
		{"unknown format", FormatUnknown, ctJSON, `{"usage":{"prompt_tokens":1}}`, ErrUnknownFormat},
	} {
		t.Run(c.name, func(t *testing.T) {
			tap, u, ok := tapAll(t, c.format, c.ct, c.body)
			if ok || !errors.Is(tap.Err(), c.want) {
				t.Fatalf("Usage = %+v, %v, err %v; want not ok, %v", u, ok, tap.Err(), c.want)
			}
			if c.want == ErrIncomplete && u.Input != 235 {
				t.Fatalf("partial usage %+v lost message_start's input", u)
			}
		})
	}
}

func TestNumbersRefusedOrCapped(t *testing.T) {
	for _, c := range []struct {
		value  string
		ok     bool
		want   error
		output int64
	}{
		{"-5", false, ErrInvalidUsage, 0},
		{"1.5", false, ErrInvalidUsage, 0},
		{"2.0", false, ErrInvalidUsage, 0},
		{"1e3", false, ErrInvalidUsage, 0},
		{`"12"`, false, ErrInvalidUsage, 0},
		{"true", false, ErrInvalidUsage, 0},
		{"1000000001", true, ErrCapped, MaxTokens},
		{"99999999999999999999999", true, ErrCapped, MaxTokens},
		{"1000000000", true, nil, MaxTokens},
		{"0", true, nil, 0},
	} {
		t.Run(c.value, func(t *testing.T) {
			body := `{"usage":{"prompt_tokens":1,"completion_tokens":` + c.value + `}}`
			tap, u, ok := tapAll(t, OpenAIChat, ctJSON, body)
			if ok != c.ok || !errors.Is(tap.Err(), c.want) || (c.want == nil && tap.Err() != nil) {
				t.Fatalf("Usage = %+v, %v, err %v; want ok=%v, %v", u, ok, tap.Err(), c.ok, c.want)
			}
			if ok && u.Output != c.output {
				t.Fatalf("Output = %d, want %d", u.Output, c.output)
			}
			var ue *UsageError
			if c.want != nil && (!errors.As(tap.Err(), &ue) || ue.Field != "completion_tokens") {
				t.Fatalf("err %v does not name the field", tap.Err())
			}
		})
	}
	// A cached count above the input it belongs to would make weighted
	// costs negative.
	tap, _, ok := tapAll(t, OpenAIChat, ctJSON, `{"usage":{"prompt_tokens":1,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":5}}}`)
	if ok || !errors.Is(tap.Err(), ErrInvalidUsage) {
		t.Fatalf("cached > prompt: ok=%v err=%v", ok, tap.Err())
	}
	// Reasoning is part of the output: more of it would price output
	// below nothing.
	tap, _, ok = tapAll(t, OpenAIResponses, ctJSON, `{"usage":{"input_tokens":1,"output_tokens":2,"output_tokens_details":{"reasoning_tokens":5}}}`)
	if ok || !errors.Is(tap.Err(), ErrInvalidUsage) {
		t.Fatalf("reasoning > output: ok=%v err=%v", ok, tap.Err())
	}
}

func TestBodyBounded(t *testing.T) {
	tap, err := NewTap(TapConfig{Format: OpenAIChat, ContentType: ctJSON, MaxBody: 64})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"choices":[{"message":{"content":"` + strings.Repeat("a", 200) + `"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`
	for i := 0; i < len(body); i += 10 {
		tap.Write([]byte(body[i:min(i+10, len(body))]))
		if cap(tap.body) > 64 {
			t.Fatalf("kept %d bytes", cap(tap.body))
		}
	}
	if _, ok := tap.Usage(); ok || !errors.Is(tap.Err(), ErrTooLarge) {
		t.Fatalf("ok=%v err=%v, want ErrTooLarge", ok, tap.Err())
	}
	if _, err := NewTap(TapConfig{MaxBody: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative MaxBody: %v", err)
	}
}

// An oversized usage event is skipped, so the usage is missing (and the
// budget falls back), rather than buffered without bound.
func TestOversizedUsageEventIsMissing(t *testing.T) {
	tap, err := NewTap(TapConfig{Format: OpenAIResponses, ContentType: sse, MaxEvent: 256})
	if err != nil {
		t.Fatal(err)
	}
	tap.Write([]byte(responsesStream))
	if _, ok := tap.Usage(); ok || !errors.Is(tap.Err(), ErrNoUsage) {
		t.Fatalf("ok=%v err=%v", ok, tap.Err())
	}
}

func TestUsageEndsTheTap(t *testing.T) {
	tap, _ := NewTap(TapConfig{Format: OpenAIChat, ContentType: ctJSON})
	tap.Write([]byte(`{"usage":{"prompt_tokens":1,"completion_tokens":2}}`))
	u1, _ := tap.Usage()
	tap.Write([]byte(`garbage`))
	if u2, ok := tap.Usage(); !ok || u2 != u1 {
		t.Fatalf("second Usage = %+v, %v", u2, ok)
	}
}

func TestFormatForPath(t *testing.T) {
	for path, want := range map[string]Format{
		"/v1/chat/completions":        OpenAIChat,
		"/openai/v1/chat/completions": OpenAIChat,
		"/v1/chat/completions/":       OpenAIChat,
		"/v1/responses":               OpenAIResponses,
		"/v1/messages":                AnthropicMessages,
		"/anthropic/v1/messages":      AnthropicMessages,
		"/v1/embeddings":              OpenAIChat,
		"/":                           FormatUnknown,
	} {
		if got, ok := FormatForPath(path); got != want || ok != (want != FormatUnknown) {
			t.Errorf("FormatForPath(%q) = %v, %v; want %v", path, got, ok, want)
		}
	}
	for _, f := range []Format{OpenAIChat, OpenAIResponses, AnthropicMessages} {
		if g, ok := ParseFormat(f.String()); !ok || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f, g, ok)
		}
	}
}
