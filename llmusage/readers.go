package llmusage

import (
	"encoding/json"
)

// The JSON shapes the formats use. Counts are json.RawMessage so that
// counts.get can refuse what encoding/json would silently accept or
// truncate (1.5, 1e3, "12").

type openAIChatUsage struct {
	PromptTokens        json.RawMessage `json:"prompt_tokens"`
	CompletionTokens    json.RawMessage `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens json.RawMessage `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

type openAIResponsesUsage struct {
	InputTokens        json.RawMessage `json:"input_tokens"`
	OutputTokens       json.RawMessage `json:"output_tokens"`
	InputTokensDetails *struct {
		CachedTokens json.RawMessage `json:"cached_tokens"`
	} `json:"input_tokens_details"`
}

type anthropicUsage struct {
	InputTokens              json.RawMessage `json:"input_tokens"`
	OutputTokens             json.RawMessage `json:"output_tokens"`
	CacheReadInputTokens     json.RawMessage `json:"cache_read_input_tokens"`
	CacheCreationInputTokens json.RawMessage `json:"cache_creation_input_tokens"`
}

// usageObject is a body or event carrying a usage object at its top
// level (Chat Completions bodies and chunks, Responses and Anthropic
// bodies, Anthropic message_delta).
type usageObject struct {
	Type  string          `json:"type"`
	Model string          `json:"model"`
	Usage json.RawMessage `json:"usage"`
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// reading is a usage being assembled; valid counts are set, the rest
// stay unset so that a later Anthropic event can fill them.
type reading struct {
	u     Usage
	found bool // at least one count was present
	c     counts
}

// readOpenAIChat reads a Chat Completions usage object.
func (r *reading) readOpenAIChat(raw json.RawMessage) bool {
	var v openAIChatUsage
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	in, ok1 := r.c.get("prompt_tokens", v.PromptTokens)
	out, ok2 := r.c.get("completion_tokens", v.CompletionTokens)
	var cached int64
	ok3 := false
	if v.PromptTokensDetails != nil {
		cached, ok3 = r.c.get("prompt_tokens_details.cached_tokens", v.PromptTokensDetails.CachedTokens)
	}
	r.u.Input, r.u.Output, r.u.CachedInput = in, out, cached
	r.found = ok1 || ok2 || ok3
	r.checkCached()
	return true
}

func (r *reading) readOpenAIResponses(raw json.RawMessage) bool {
	var v openAIResponsesUsage
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	in, ok1 := r.c.get("input_tokens", v.InputTokens)
	out, ok2 := r.c.get("output_tokens", v.OutputTokens)
	var cached int64
	ok3 := false
	if v.InputTokensDetails != nil {
		cached, ok3 = r.c.get("input_tokens_details.cached_tokens", v.InputTokensDetails.CachedTokens)
	}
	r.u.Input, r.u.Output, r.u.CachedInput = in, out, cached
	r.found = ok1 || ok2 || ok3
	r.checkCached()
	return true
}

// anthropicCounts keeps which Anthropic counts were present, so that a
// message_delta (cumulative, and since 2025 often carrying only
// output_tokens) overrides exactly the counts it carries.
type anthropicCounts struct {
	in, out, read, write      int64
	hasIn, hasOut, hasR, hasW bool
}

func (a *anthropicCounts) merge(c *counts, raw json.RawMessage) bool {
	var v anthropicUsage
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	// Cumulative, not incremental: a present count replaces the earlier
	// one, so two message_delta events count once.
	if n, ok := c.get("input_tokens", v.InputTokens); ok {
		a.in, a.hasIn = n, true
	}
	if n, ok := c.get("output_tokens", v.OutputTokens); ok {
		a.out, a.hasOut = n, true
	}
	if n, ok := c.get("cache_read_input_tokens", v.CacheReadInputTokens); ok {
		a.read, a.hasR = n, true
	}
	if n, ok := c.get("cache_creation_input_tokens", v.CacheCreationInputTokens); ok {
		a.write, a.hasW = n, true
	}
	return true
}

func (a *anthropicCounts) usage() (Usage, bool) {
	return Usage{
		Input:       a.in + a.read + a.write,
		Output:      a.out,
		CachedInput: a.read,
		CacheWrite:  a.write,
	}, a.hasIn || a.hasOut || a.hasR || a.hasW
}

// checkCached refuses a cached count above the input it is part of: the
// weights would then charge less than nothing for the uncached rest.
func (r *reading) checkCached() {
	if r.u.CachedInput+r.u.CacheWrite > r.u.Input {
		r.c.refuse("cached_tokens", nil, "above the input it is part of")
	}
}
