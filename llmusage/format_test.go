package llmusage

import (
	"errors"
	"testing"
)

// Format names itself in config files: String's names and the config
// spellings decode, every value round-trips, and an unknown name is a
// config error.
func TestFormatText(t *testing.T) {
	for in, want := range map[string]Format{
		"": FormatUnknown, "auto": FormatUnknown, "openai": OpenAIChat, "openai_chat": OpenAIChat,
		"openai-responses": OpenAIResponses, "anthropic": AnthropicMessages, "anthropic_messages": AnthropicMessages,
	} {
		var f Format
		if err := f.UnmarshalText([]byte(in)); err != nil || f != want {
			t.Errorf("%q: %v, %v", in, f, err)
		}
		b, _ := want.MarshalText()
		var back Format
		if err := back.UnmarshalText(b); err != nil || back != want {
			t.Errorf("%v does not round-trip: %q", want, b)
		}
	}
	var f Format
	if err := f.UnmarshalText([]byte("gemini")); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("gemini: %v", err)
	}
}
