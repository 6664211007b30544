package llmusage

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// MaxTokens caps each count of one response: a billion tokens is orders of
// magnitude beyond any model's context, so a larger number is an upstream
// bug (or an attack through a compromised upstream), and charging it as
// is would overflow a budget or empty it for a month.
const MaxTokens = 1_000_000_000

// maxModelBytes bounds the model name kept from a response.
const maxModelBytes = 128

// Usage is what one response cost, normalised across formats so that a
// cost function needs one rule: Input counts every input token, cached or
// not, and CachedInput and CacheWrite say how many of them were read from
// or written to a prompt cache.
//
// The zero value is a usage of nothing; a missing usage is never a zero
// Usage but ok == false from Tap.Usage.
type Usage struct {
	// Model is the model the upstream says answered ("" when it did not
	// say), at most 128 bytes.
	Model string
	// Input is every input (prompt) token: OpenAI's prompt_tokens or
	// input_tokens; Anthropic's input_tokens + cache_read_input_tokens +
	// cache_creation_input_tokens.
	Input int64
	// Output is every output token, reasoning included.
	Output int64
	// Reasoning is how many of Output were reasoning tokens (OpenAI
	// completion_tokens_details.reasoning_tokens or
	// output_tokens_details.reasoning_tokens; Anthropic reports thinking
	// as plain output, so 0).
	Reasoning int64
	// CachedInput is how many of Input were read from a prompt cache
	// (OpenAI cached_tokens, Anthropic cache_read_input_tokens).
	CachedInput int64
	// CacheWrite is how many of Input were written to a prompt cache
	// (Anthropic cache_creation_input_tokens; OpenAI reports none).
	CacheWrite int64
}

// Total is Input + Output.
func (u Usage) Total() int64 { return u.Input + u.Output }

// counts reads token counts from JSON values, remembering the first
// problem: refusals win over caps, since a refused count makes the whole
// usage unusable.
type counts struct {
	err *UsageError
}

// get parses raw as a count: an integer literal from 0 to MaxTokens. null
// and absent are 0, false. Anything else is refused (negative,
// fractional, exponent, string) or capped (above MaxTokens, overflow).
func (c *counts) get(field string, raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	reason := ""
	switch {
	case raw[0] == '-':
		reason = "negative"
	case !digits(raw):
		if raw[0] >= '0' && raw[0] <= '9' {
			reason = "not an integer"
		} else {
			reason = "not a number"
		}
	}
	if reason != "" {
		c.refuse(field, raw, reason)
		return 0, true
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n > MaxTokens {
		if c.err == nil {
			c.err = &UsageError{Field: field, Value: cut(raw), Reason: "above " + strconv.Itoa(MaxTokens), capped: true}
		}
		return MaxTokens, true
	}
	return n, true
}

func (c *counts) refuse(field string, raw []byte, reason string) {
	if c.err == nil || c.err.capped {
		c.err = &UsageError{Field: field, Value: cut(raw), Reason: reason}
	}
}

func (c *counts) refused() bool { return c.err != nil && !c.err.capped }

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func cut(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}

func boundModel(s string) string {
	if len(s) > maxModelBytes {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return "" // not a name: keep it out of logs and labels
		}
	}
	return s
}
