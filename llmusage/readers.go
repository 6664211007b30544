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
	CompletionTokensDetails *struct {
		ReasoningTokens json.RawMessage `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

type openAIResponsesUsage struct {
	InputTokens        json.RawMessage `json:"input_tokens"`
	OutputTokens       json.RawMessage `json:"output_tokens"`
	InputTokensDetails *struct {
		CachedTokens json.RawMessage `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokensDetails *struct {
		ReasoningTokens json.RawMessage `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
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
	var cached, reasoning json.RawMessage
	if v.PromptTokensDetails != nil {
		cached = v.PromptTokensDetails.CachedTokens
	}
	if v.CompletionTokensDetails != nil {
		reasoning = v.CompletionTokensDetails.ReasoningTokens
	}
	r.setOpenAI(v.PromptTokens, v.CompletionTokens, cached, reasoning, &chatNames)
	return true
}

// readOpenAIResponses reads a Responses API usage object.
func (r *reading) readOpenAIResponses(raw json.RawMessage) bool {
	var v openAIResponsesUsage
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	var cached, reasoning json.RawMessage
	if v.InputTokensDetails != nil {
		cached = v.InputTokensDetails.CachedTokens
	}
	if v.OutputTokensDetails != nil {
		reasoning = v.OutputTokensDetails.ReasoningTokens
	}
	r.setOpenAI(v.InputTokens, v.OutputTokens, cached, reasoning, &responsesNames)
	return true
}

// The count names of the two OpenAI APIs, for counts.get's reasons: the
// same four counts, spelled two ways.
var (
	chatNames = [4]string{"prompt_tokens", "completion_tokens", "prompt_tokens_details.cached_tokens",
		"completion_tokens_details.reasoning_tokens"}
	responsesNames = [4]string{"input_tokens", "output_tokens", "input_tokens_details.cached_tokens",
		"output_tokens_details.reasoning_tokens"}
)

// setOpenAI takes an OpenAI usage's input, output, cached-input and
// reasoning counts (an absent count is nil: unset).
func (r *reading) setOpenAI(in, out, cached, reasoning json.RawMessage, names *[4]string) {
	i, ok1 := r.c.get(names[0], in)
	o, ok2 := r.c.get(names[1], out)
	c, ok3 := r.c.get(names[2], cached)
	rs, _ := r.c.get(names[3], reasoning)
	r.u.Input, r.u.Output, r.u.CachedInput, r.u.Reasoning = i, o, c, rs
	r.found = ok1 || ok2 || ok3
	r.checkCached()
	if r.u.Reasoning > r.u.Output {
		r.c.refuse(names[3], nil, "above the output it is part of")
	}
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
