package llmusage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
)

// Defaults for TapConfig.
const (
	// DefaultMaxBody is the most of a JSON response body a tap keeps.
	DefaultMaxBody = 1 << 20
	// DefaultMaxEvent is the most of one server-sent event a tap keeps.
	DefaultMaxEvent = 1 << 20
)

// TapConfig configures NewTap. The zero value reads nothing useful
// (FormatUnknown) but is valid.
type TapConfig struct {
	// Format says where the usage is. FormatUnknown: nowhere (Usage
	// reports ErrUnknownFormat).
	Format Format
	// ContentType is the response's Content-Type: text/event-stream is
	// read as a stream of events, anything else as one JSON body.
	ContentType string
	// MaxBody bounds the JSON body kept for reading its usage: past it,
	// nothing more is kept and Usage reports ErrTooLarge. 0 means
	// DefaultMaxBody (1 MiB).
	MaxBody int
	// MaxEvent bounds one server-sent event (and one line of the stream):
	// a larger event is skipped, never buffered. A usage event larger
	// than this (a Responses response.completed event repeats the whole
	// output) is lost and Usage reports ErrNoUsage. 0 means
	// DefaultMaxEvent (1 MiB).
	MaxEvent int
}

// Tap reads the usage an LLM upstream reports in its response, from a
// copy of the bytes: the caller writes every byte it passes on to the
// client into Write, after passing it on, so the tap never holds a byte
// back. It keeps at most MaxBody (JSON) or about MaxEvent (event stream)
// bytes whatever the response's length.
//
// A Tap reads only the upstream's response: usage a client puts in its
// request never reaches it.
//
// A Tap is for one response and one goroutine; it is not safe for
// concurrent use. Its zero value is not usable; use NewTap.
type Tap struct {
	format Format
	stream bool
	max    int

	body []byte // JSON mode: the body so far, up to max
	over bool   // JSON mode: the body outgrew max

	sse sseParser

	// Event-stream state.
	final   bool // the format's final usage was seen
	partial bool // Anthropic: message_start's usage was seen
	anth    anthropicCounts
	last    reading // OpenAI: the latest usage read
	model   string
	bad     error // a usage event that did not parse
	done    bool
	result  Usage
	ok      bool
	err     error
}

// NewTap returns a tap for one response.
func NewTap(cfg TapConfig) (*Tap, error) {
	if cfg.MaxBody < 0 || cfg.MaxEvent < 0 {
		return nil, fmt.Errorf("%w: MaxBody and MaxEvent must not be negative", ErrInvalidConfig)
	}
	if cfg.Format > AnthropicMessages {
		return nil, fmt.Errorf("%w: unknown Format %d", ErrInvalidConfig, cfg.Format)
	}
	t := &Tap{format: cfg.Format, stream: IsEventStream(cfg.ContentType)}
	if t.stream {
		t.sse = sseParser{max: cfg.MaxEvent, onEvent: t.onEvent}
		if t.sse.max == 0 {
			t.sse.max = DefaultMaxEvent
		}
	} else {
		t.max = cfg.MaxBody
		if t.max == 0 {
			t.max = DefaultMaxBody
		}
	}
	return t, nil
}

// IsEventStream reports whether a Content-Type is text/event-stream.
func IsEventStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "text/event-stream"
}

// Write takes a copy of bytes already passed on to the client. It never
// fails: it returns len(p), nil, so a Tap fits io.TeeReader and
// io.MultiWriter.
func (t *Tap) Write(p []byte) (int, error) {
	if t.done || t.format == FormatUnknown {
		return len(p), nil
	}
	if t.stream {
		t.sse.write(p)
		return len(p), nil
	}
	if !t.over {
		if len(t.body)+len(p) > t.max {
			t.over = true
			t.body = nil
		} else {
			t.body = append(t.body, p...)
		}
	}
	return len(p), nil
}

// Usage ends the tap and returns the usage read; ok is false when there
// was none to trust, and Err says why. Even then u may hold what a stream
// reported before it was cut (Anthropic's input count), for a fallback
// to build on. Later Writes are ignored; Usage may be called again.
func (t *Tap) Usage() (u Usage, ok bool) {
	if !t.done {
		t.done = true
		t.result, t.ok, t.err = t.finish()
		t.body = nil
		t.sse = sseParser{}
	}
	return t.result, t.ok
}

// Err returns why Usage reported ok false, or ErrCapped (as a *UsageError)
// when a count was capped, else nil. It ends the tap as Usage does.
func (t *Tap) Err() error {
	t.Usage()
	return t.err
}

func (t *Tap) finish() (Usage, bool, error) {
	if t.format == FormatUnknown {
		return Usage{}, false, ErrUnknownFormat
	}
	if !t.stream {
		return t.finishBody()
	}
	if t.bad != nil && !t.final {
		return Usage{}, false, t.bad
	}
	switch t.format {
	case AnthropicMessages:
		u, found := t.anth.usage()
		u.Model = t.model
		return t.verdict(u, found && t.final, t.partial, &t.last.c)
	default:
		r := &t.last
		r.u.Model = t.model
		return t.verdict(r.u, r.found && t.final, false, &r.c)
	}
}

func (t *Tap) verdict(u Usage, complete, partial bool, c *counts) (Usage, bool, error) {
	if c.refused() {
		return Usage{}, false, c.err
	}
	if !complete {
		if partial {
			return u, false, ErrIncomplete
		}
		return Usage{}, false, ErrNoUsage
	}
	if c.err != nil {
		return u, true, c.err // capped
	}
	return u, true, nil
}

func (t *Tap) finishBody() (Usage, bool, error) {
	if t.over {
		return Usage{}, false, ErrTooLarge
	}
	var obj usageObject
	if json.Unmarshal(t.body, &obj) != nil {
		return Usage{}, false, ErrMalformed
	}
	if isNull(obj.Usage) {
		return Usage{}, false, ErrNoUsage
	}
	var r reading
	var parsed bool
	switch t.format {
	case OpenAIChat:
		parsed = r.readOpenAIChat(obj.Usage)
	case OpenAIResponses:
		parsed = r.readOpenAIResponses(obj.Usage)
	case AnthropicMessages:
		var a anthropicCounts
		parsed = a.merge(&r.c, obj.Usage)
		r.u, r.found = a.usage()
		r.checkCached()
	}
	if !parsed {
		return Usage{}, false, ErrMalformed
	}
	r.u.Model = boundModel(obj.Model)
	return t.verdict(r.u, r.found, false, &r.c)
}

// onEvent reads one dispatched server-sent event.
func (t *Tap) onEvent(event, data []byte) {
	// Only events with a non-null "usage" member can carry it: skip the
	// JSON decode of every content delta.
	if !hasUsage(data) {
		return
	}
	switch t.format {
	case OpenAIChat:
		t.onChatChunk(data)
	case OpenAIResponses:
		t.onResponsesEvent(event, data)
	case AnthropicMessages:
		t.onAnthropicEvent(data)
	}
}

func (t *Tap) onChatChunk(data []byte) {
	var obj usageObject
	if json.Unmarshal(data, &obj) != nil {
		t.bad = ErrMalformed
		return
	}
	if isNull(obj.Usage) {
		return // the chunks before the last say "usage": null
	}
	var r reading
	if !r.readOpenAIChat(obj.Usage) {
		t.bad = ErrMalformed
		return
	}
	// Some compatible servers repeat a running usage in every chunk: the
	// last one is the total.
	t.last, t.final = r, true
	if m := boundModel(obj.Model); m != "" {
		t.model = m
	}
}

func (t *Tap) onResponsesEvent(event, data []byte) {
	var obj struct {
		Type     string      `json:"type"`
		Response usageObject `json:"response"`
	}
	if json.Unmarshal(data, &obj) != nil {
		if isTerminalResponses(string(event)) {
			t.bad = ErrMalformed
		}
		return
	}
	typ := obj.Type
	if typ == "" {
		typ = string(event)
	}
	if !isTerminalResponses(typ) || isNull(obj.Response.Usage) {
		return // response.created and response.in_progress say "usage": null
	}
	var r reading
	if !r.readOpenAIResponses(obj.Response.Usage) {
		t.bad = ErrMalformed
		return
	}
	t.last, t.final = r, true
	if m := boundModel(obj.Response.Model); m != "" {
		t.model = m
	}
}

func isTerminalResponses(typ string) bool {
	return typ == "response.completed" || typ == "response.incomplete" || typ == "response.failed"
}

func (t *Tap) onAnthropicEvent(data []byte) {
	var obj struct {
		usageObject
		Message *usageObject `json:"message"`
	}
	if json.Unmarshal(data, &obj) != nil {
		t.bad = ErrMalformed
		return
	}
	switch strings.TrimSpace(obj.Type) {
	case "message_start":
		if obj.Message == nil || isNull(obj.Message.Usage) {
			return
		}
		if !t.anth.merge(&t.last.c, obj.Message.Usage) {
			t.bad = ErrMalformed
			return
		}
		t.partial = true
		if m := boundModel(obj.Message.Model); m != "" {
			t.model = m
		}
	case "message_delta":
		if isNull(obj.Usage) {
			return
		}
		if !t.anth.merge(&t.last.c, obj.Usage) {
			t.bad = ErrMalformed
			return
		}
		t.final = true
	}
}

// hasUsage reports whether data may hold a "usage" member that is not
// null: some `"usage"` followed by a colon and anything but null. A
// string value "usage" is followed by no colon, and the word inside a
// string is escaped (\"usage\"), so only a member matches; a key spelt
// with \u escapes would be missed, which no upstream does.
func hasUsage(data []byte) bool {
	key := []byte(`"usage"`)
	for {
		i := bytes.Index(data, key)
		if i < 0 {
			return false
		}
		data = data[i+len(key):]
		rest := skipSpace(data)
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		if !bytes.HasPrefix(skipSpace(rest[1:]), []byte("null")) {
			return true
		}
	}
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
