package llmusage

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
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

// The members ParseRequest reads, by exact name, at the top level of the
// body and in its stream_options object (index with the m… constants).
var (
	requestMembers       = []string{"model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "max_output_tokens"}
	streamOptionsMembers = []string{"include_usage"}
)

const (
	mModel = iota
	mStream
	mStreamOptions
	mMaxTokens
	mMaxCompletionTokens
	mMaxOutputTokens
)

// ParseRequest reads the fields of a JSON request body that a budget
// uses. A body over maxBytes (0 means DefaultMaxRequestBody) is
// ErrRequestTooLarge, one that is not a JSON object ErrMalformed. Counts
// that are not valid (negative, fractional, above MaxTokens) are ignored.
//
// Members are read by their exact names, as the strict-name upstreams
// (Python's vLLM and LiteLLM) read them. A body that an upstream may read
// differently is ErrAmbiguousRequest: a member read here (model, stream,
// stream_options, max_tokens, max_completion_tokens, max_output_tokens,
// and include_usage in stream_options) given twice or spelt in another
// letter case ("Stream_Options", which Go's encoding/json, and so Ollama,
// takes for stream_options and Python does not), or a "stream" that is
// not true, false or null (lax parsers such as pydantic's read "true" and
// 1 as true). Escapes are decoded before names are compared, as every
// parser does. Members not read here are not looked at.
func ParseRequest(body []byte, maxBytes int) (Request, error) {
	req, _, err := parseRequest(body, maxBytes)
	return req, err
}

// requestText is where ParseRequest found what it read, for
// AddIncludeUsage's rewrite.
type requestText struct {
	top  object // the body's members, indexed as requestMembers
	opts object // stream_options' members when it is an object
}

func parseRequest(body []byte, maxBytes int) (Request, *requestText, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRequestBody
	}
	if len(body) > maxBytes {
		return Request{}, nil, ErrRequestTooLarge
	}
	t := &requestText{}
	var err error
	if t.top, err = readObject(body, requestMembers); err != nil {
		return Request{}, nil, err
	}
	var req Request
	var m string
	if raw := t.top.found[mModel].value; raw != nil && json.Unmarshal(raw, &m) == nil {
		req.Model = boundModel(m)
	}
	switch string(t.top.found[mStream].value) {
	case "true":
		req.Stream = true
	case "", "false", "null":
	default:
		return Request{}, nil, ErrAmbiguousRequest
	}
	if raw := t.top.found[mStreamOptions].value; len(raw) > 0 && raw[0] == '{' {
		// A value readObject has checked: only ErrAmbiguousRequest is left.
		if t.opts, err = readObject(raw, streamOptionsMembers); err != nil {
			return Request{}, nil, err
		}
		req.IncludeUsage = string(t.opts.found[0].value) == "true"
	}
	for _, i := range []int{mMaxTokens, mMaxCompletionTokens, mMaxOutputTokens} {
		var c counts
		n, ok := c.get("max_tokens", t.top.found[i].value)
		if ok && c.err == nil {
			req.MaxTokens = max(req.MaxTokens, n)
		}
	}
	return req, t, nil
}

// object is what readObject found of a JSON object.
type object struct {
	open  int      // the offset of its '{'
	n     int      // how many members it has
	found []member // the members asked for, in the order of the names
}

// member is one member's value (nil when absent) and its offset in the
// text read.
type member struct {
	value []byte
	at    int
}

// readObject reads text, which must be one JSON object and nothing else
// (ErrMalformed), keeping the members whose exact names are in names. A
// name in names given twice, or a member whose name differs from one in
// names only in letter case (strings.EqualFold, which is how
// encoding/json matches names, the long s and the Kelvin sign included),
// is ErrAmbiguousRequest.
func readObject(text []byte, names []string) (object, error) {
	obj := object{found: make([]member, len(names))}
	dec := json.NewDecoder(bytes.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return obj, ErrMalformed
	}
	obj.open = int(dec.InputOffset()) - 1
	ambiguous := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return obj, ErrMalformed
		}
		name, _ := tok.(string) // Token gives a name here or an error
		obj.n++
		i := slices.Index(names, name)
		if i < 0 {
			for _, n := range names {
				ambiguous = ambiguous || strings.EqualFold(name, n)
			}
			if dec.Decode(&skipValue{}) != nil {
				return obj, ErrMalformed
			}
			continue
		}
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return obj, ErrMalformed
		}
		ambiguous = ambiguous || obj.found[i].value != nil
		obj.found[i] = member{value: raw, at: int(dec.InputOffset()) - len(raw)}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return obj, ErrMalformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return obj, ErrMalformed // more after the object
	}
	if ambiguous {
		return obj, ErrAmbiguousRequest
	}
	return obj, nil
}

// skipValue is a decode target that keeps nothing (and copies nothing).
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// AddIncludeUsage rewrites a Chat Completions request that streams
// without stream_options.include_usage so that it asks for it: without it
// the stream reports no usage at all. It returns the body unchanged and
// false when there is nothing to do (not streaming, already asked, a
// stream_options that is not an object or null, or a body ParseRequest
// refuses: not a JSON object, ambiguous, over maxBytes; 0 means
// DefaultMaxRequestBody).
//
// Only stream_options changes: include_usage's value becomes true, or
// include_usage is added as its first member, or stream_options as the
// body's first member. Every other byte reaches the upstream as the
// client sent it. The client then receives one more chunk than it asked
// for, the usage chunk, with an empty "choices"; OpenAI's SDKs accept it
// (package budget can strip it again).
func AddIncludeUsage(body []byte, maxBytes int) ([]byte, bool) {
	req, t, err := parseRequest(body, maxBytes)
	if err != nil || !req.Stream || req.IncludeUsage {
		return body, false
	}
	so := t.top.found[mStreamOptions]
	switch {
	case so.value == nil:
		// The object has a member ("stream"), so a comma follows.
		at := t.top.open + 1
		return splice(body, at, at, `"stream_options":{"include_usage":true},`), true
	case isNull(so.value) || (so.value[0] == '{' && t.opts.n == 0):
		return splice(body, so.at, so.at+len(so.value), `{"include_usage":true}`), true
	case so.value[0] != '{':
		return body, false // not an object: leave the upstream to refuse it
	}
	if iu := t.opts.found[0]; iu.value != nil {
		at := so.at + iu.at
		return splice(body, at, at+len(iu.value), "true"), true
	}
	at := so.at + t.opts.open + 1
	return splice(body, at, at, `"include_usage":true,`), true
}

// splice returns a new body: b with b[from:to] replaced by s.
func splice(b []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(b)-(to-from)+len(s))
	out = append(out, b[:from]...)
	out = append(out, s...)
	return append(out, b[to:]...)
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
