package llmusage

import (
	"fmt"
	"strings"
)

// Format is the API an upstream speaks, which says where its usage is.
type Format uint8

const (
	// FormatUnknown reads nothing: every tap of it reports ErrUnknownFormat.
	FormatUnknown Format = iota
	// OpenAIChat is OpenAI Chat Completions (POST /v1/chat/completions):
	// "usage" in the body; when streaming, the final chunk that
	// stream_options.include_usage asks for (earlier chunks carry
	// "usage": null).
	OpenAIChat
	// OpenAIResponses is the OpenAI Responses API (POST /v1/responses):
	// "usage" in the body; when streaming, response.usage in the
	// response.completed (or response.incomplete, response.failed) event.
	OpenAIResponses
	// AnthropicMessages is the Anthropic Messages API (POST /v1/messages):
	// "usage" in the body; when streaming, message_start.message.usage and
	// then message_delta.usage, whose counts are cumulative.
	AnthropicMessages
)

// String returns "unknown", "openai_chat", "openai_responses" or
// "anthropic_messages": stable, fit for a metric label and a config file.
func (f Format) String() string {
	switch f {
	case OpenAIChat:
		return "openai_chat"
	case OpenAIResponses:
		return "openai_responses"
	case AnthropicMessages:
		return "anthropic_messages"
	}
	return "unknown"
}

// MarshalText returns String's name.
func (f Format) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads String's names and the configuration spellings:
// "openai" (Chat Completions), "openai-responses", "anthropic", and "",
// "auto" or "unknown" for FormatUnknown (the format follows the request's
// path).
func (f *Format) UnmarshalText(b []byte) error {
	switch string(b) {
	case "", "auto", "unknown":
		*f = FormatUnknown
	case "openai", "openai_chat":
		*f = OpenAIChat
	case "openai-responses", "openai_responses":
		*f = OpenAIResponses
	case "anthropic", "anthropic_messages":
		*f = AnthropicMessages
	default:
		return fmt.Errorf("%w: format %q: want openai, openai-responses, anthropic or auto", ErrInvalidConfig, b)
	}
	return nil
}

// ParseFormat is the inverse of String, for configuration files; it also
// accepts "openai" (Chat Completions) and "anthropic".
func ParseFormat(s string) (Format, bool) {
	switch s {
	case "openai_chat", "openai":
		return OpenAIChat, true
	case "openai_responses":
		return OpenAIResponses, true
	case "anthropic_messages", "anthropic":
		return AnthropicMessages, true
	}
	return FormatUnknown, false
}

// FormatForPath guesses the format from a request path by its ending, so
// that a gateway mounting the API under a prefix (/openai/v1/chat/completions)
// still finds it: /v1/chat/completions, /v1/responses and /v1/messages.
// Anything else is FormatUnknown, false. The path is the one the client
// asked for; it picks a parser, never a number, so a client choosing it
// can at worst make its usage unreadable, which the budget charges as a
// fallback.
func FormatForPath(path string) (Format, bool) {
	path = strings.TrimRight(path, "/")
	switch {
	case strings.HasSuffix(path, "/v1/chat/completions"), strings.HasSuffix(path, "/chat/completions"):
		return OpenAIChat, true
	case strings.HasSuffix(path, "/v1/responses"):
		return OpenAIResponses, true
	case strings.HasSuffix(path, "/v1/messages"):
		return AnthropicMessages, true
	case strings.HasSuffix(path, "/v1/embeddings"), strings.HasSuffix(path, "/embeddings"):
		// An embeddings answer's usage is Chat Completions' shape
		// (prompt_tokens; total_tokens), without completions.
		return OpenAIChat, true
	}
	return FormatUnknown, false
}

// NoUsagePath reports whether a call has no usage concept at all, so that
// a budget charges it nothing rather than a fallback estimate: listing
// models (GET …/models, …/models/{id}) and counting tokens
// (POST …/messages/count_tokens).
func NoUsagePath(method, path string) bool {
	path = strings.TrimRight(path, "/")
	switch {
	case strings.HasSuffix(path, "/messages/count_tokens"):
		return true
	case method == "GET" && (strings.HasSuffix(path, "/models") || strings.Contains(path, "/models/")):
		return true
	}
	return false
}
