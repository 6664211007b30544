package llmusage_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jwtgate/jwtgate/llmusage"
)

// A streamed Anthropic response, copied to the client through a tap.
func ExampleTap() {
	upstream := strings.NewReader("event: message_start\n" +
		`data: {"type":"message_start","message":{"model":"claude-haiku-4-5","usage":{"input_tokens":12,"output_tokens":1}}}` + "\n\n" +
		"event: message_delta\n" +
		`data: {"type":"message_delta","usage":{"output_tokens":40}}` + "\n\n")

	tap, err := llmusage.NewTap(llmusage.TapConfig{
		Format:      llmusage.AnthropicMessages,
		ContentType: "text/event-stream",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var client strings.Builder
	_, _ = io.Copy(&client, io.TeeReader(upstream, tap))

	u, ok := tap.Usage()
	fmt.Println(ok, u.Model, u.Input, u.Output)
	// Output: true claude-haiku-4-5 12 40
}

// A body without usage is "unknown", not zero.
func ExampleTap_missing() {
	tap, _ := llmusage.NewTap(llmusage.TapConfig{Format: llmusage.OpenAIChat, ContentType: "application/json"})
	_, _ = tap.Write([]byte(`{"error":{"message":"overloaded"}}`))
	_, ok := tap.Usage()
	fmt.Println(ok, tap.Err())
	// Output: false llmusage: response has no usage
}

func ExampleAddIncludeUsage() {
	body, changed := llmusage.AddIncludeUsage([]byte(`{"model":"gpt-4o-mini","stream":true}`), 0)
	fmt.Println(changed, string(body))
	// Output: true {"stream_options":{"include_usage":true},"model":"gpt-4o-mini","stream":true}
}

func ExampleParseRequest_ambiguous() {
	// Python upstreams read only "stream_options"; Go's encoding/json
	// reads "Stream_Options" as it: refused rather than guessed.
	_, err := llmusage.ParseRequest([]byte(`{"stream":true,"Stream_Options":{"include_usage":true}}`), 0)
	fmt.Println(errors.Is(err, llmusage.ErrAmbiguousRequest))
	// Output: true
}

func ExampleFormatForPath() {
	f, ok := llmusage.FormatForPath("/openai/v1/chat/completions")
	fmt.Println(f, ok)
	// Output: openai_chat true
}
