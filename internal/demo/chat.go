package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// What every demo chat completion reports in its usage block: fixed, so
// that the gateway demo's budget runs out after a known number of answers
// whatever the prompt.
const (
	ChatPromptTokens     = 10
	ChatCompletionTokens = 20
	// ChatModel is the model a request that names none is answered as.
	ChatModel = "demo-mini"
)

// maxChatRequest bounds a chat request body: the demo reads only a few
// fields of it.
const maxChatRequest = 1 << 20

// chatWords are the answer, one streamed chunk per word.
var chatWords = []string{"Hello", " from", " the", " jwtgate", " demo", " upstream."}

type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

var demoUsage = chatUsage{ChatPromptTokens, ChatCompletionTokens, ChatPromptTokens + ChatCompletionTokens}

// serveChat answers an OpenAI-compatible Chat Completions request: a JSON
// completion with a usage block, or, with "stream": true, a stream of
// chunks (Interval apart) ending in a usage chunk when
// stream_options.include_usage asks for one, then "data: [DONE]", as
// OpenAI's API does.
func serveChat(w http.ResponseWriter, r *http.Request, cfg UpstreamConfig) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeChatError(w, http.StatusMethodNotAllowed, "POST a JSON chat completion request")
		return
	}
	var req chatRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxChatRequest+1))
	if err != nil || len(body) > maxChatRequest || json.Unmarshal(body, &req) != nil {
		writeChatError(w, http.StatusBadRequest, "the body must be a JSON object of at most 1 MiB")
		return
	}
	if req.Model == "" {
		req.Model = ChatModel
	}
	created := time.Now().Unix()
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": "chatcmpl-demo", "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{
				"index": 0, "finish_reason": "stop",
				"message": map[string]string{"role": "assistant", "content": strings.Join(chatWords, "")},
			}},
			"usage": demoUsage,
		})
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunk := func(choices []any, usage any) bool {
		b, _ := json.Marshal(map[string]any{ // plain maps and strings always marshal
			"id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": choices, "usage": usage,
		})
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	var pace pacer
	defer pace.stop()
	for i, word := range chatWords {
		if i > 0 && !pace.wait(r.Context(), cfg.Interval) {
			return
		}
		var finish any
		if i == len(chatWords)-1 {
			finish = "stop"
		}
		if !chunk([]any{map[string]any{"index": 0, "delta": map[string]string{"content": word}, "finish_reason": finish}}, nil) {
			return
		}
	}
	if includeUsage && !chunk([]any{}, demoUsage) {
		return
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func writeChatError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"message": msg, "type": "invalid_request_error"}})
}
