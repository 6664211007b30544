package llmusage

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// DefaultMaxRequestBody is a sane bound for ParseRequest and
// AddIncludeUsage callers: prompts past a mebibyte exist, but a budget
// does not need to read them.
const DefaultMaxRequestBody = 1 << 20

// Request is what a budget may read from a client's request body. None of
// it is usage: a client's word on what it used is never trusted.
type Request struct {
	// Model is the model asked for ("" when absent or not a string).
	Model string
	// Stream reports "stream": true.
	Stream bool
	// MaxTokens is the output bound asked for: max_tokens (Chat
	// Completions, Anthropic), max_completion_tokens (Chat Completions)
	// or max_output_tokens (Responses), the largest if several; 0 when
	// none is a valid count.
	MaxTokens int64
	// IncludeUsage reports stream_options.include_usage: true.
	IncludeUsage bool
}

type requestFields struct {
	Model               json.RawMessage `json:"model"`
	Stream              json.RawMessage `json:"stream"`
	MaxTokens           json.RawMessage `json:"max_tokens"`
	MaxCompletionTokens json.RawMessage `json:"max_completion_tokens"`
	MaxOutputTokens     json.RawMessage `json:"max_output_tokens"`
	StreamOptions       *struct {
		IncludeUsage json.RawMessage `json:"include_usage"`
	} `json:"stream_options"`
}

// ParseRequest reads the fields of a JSON request body that a budget
// uses. A body over maxBytes (0 means DefaultMaxRequestBody) is
// ErrRequestTooLarge, one that is not a JSON object ErrMalformed. Counts
// that are not valid (negative, fractional, above MaxTokens) are ignored.
func ParseRequest(body []byte, maxBytes int) (Request, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRequestBody
	}
	if len(body) > maxBytes {
		return Request{}, ErrRequestTooLarge
	}
	var f requestFields
	if err := json.Unmarshal(body, &f); err != nil {
		return Request{}, ErrMalformed
	}
	var req Request
	var m string
	if json.Unmarshal(f.Model, &m) == nil {
		req.Model = boundModel(m)
	}
	req.Stream = string(bytes.TrimSpace(f.Stream)) == "true"
	if f.StreamOptions != nil {
		req.IncludeUsage = string(bytes.TrimSpace(f.StreamOptions.IncludeUsage)) == "true"
	}
	for _, raw := range []json.RawMessage{f.MaxTokens, f.MaxCompletionTokens, f.MaxOutputTokens} {
		var c counts
		n, ok := c.get("max_tokens", raw)
		if ok && c.err == nil {
			req.MaxTokens = max(req.MaxTokens, n)
		}
	}
	return req, nil
}

// AddIncludeUsage rewrites a Chat Completions request that streams
// without stream_options.include_usage so that it asks for it: without it
// the stream reports no usage at all. It returns the body unchanged and
// false when there is nothing to do (not streaming, already asked, not a
// JSON object, or over maxBytes; 0 means DefaultMaxRequestBody).
//
// The rewritten body keeps every other field's value but not their order
// or spacing (it is re-encoded). The client then receives one more chunk
// than it asked for, the usage chunk, with an empty "choices"; OpenAI's
// SDKs accept it. Stripping that chunk again is not done.
func AddIncludeUsage(body []byte, maxBytes int) ([]byte, bool) {
	req, err := ParseRequest(body, maxBytes)
	if err != nil || !req.Stream || req.IncludeUsage {
		return body, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return body, false
	}
	opts := map[string]json.RawMessage{}
	if raw, ok := obj["stream_options"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &opts) != nil {
			return body, false // not an object: leave the upstream to refuse it
		}
	}
	opts["include_usage"] = json.RawMessage("true")
	o, err := json.Marshal(opts)
	if err != nil {
		return body, false
	}
	obj["stream_options"] = o
	out, err := json.Marshal(obj)
	if err != nil {
		return body, false
	}
	return out, true
}

// RequestIdentity asks the upstream for an unencoded response
// (Accept-Encoding: identity), so that the tap can read it. jwtgate
// chooses this over decoding gzip for the tap: decoding costs CPU and a
// decompressor's memory per response, and a gzip bomb would need its own
// bound, to save bandwidth between a gateway and its upstream that is
// usually cheap. Go's Transport then also leaves the body alone. An
// upstream that encodes anyway gets its usage unread (the budget charges
// its fallback and reports "encoded").
func RequestIdentity(h http.Header) {
	h.Set("Accept-Encoding", "identity")
}
