package llmusage

import (
	"slices"
	"strings"
	"testing"
)

type sseEvent struct{ event, data string }

func parseAll(chunks ...string) []sseEvent {
	var got []sseEvent
	p := sseParser{max: 1 << 10, onEvent: func(e, d []byte) {
		got = append(got, sseEvent{string(e), string(d)})
	}}
	for _, c := range chunks {
		p.write([]byte(c))
	}
	return got
}

// The WHATWG event-stream rules, one row each; every stream is also fed
// split at every byte (and every pair of bytes) and must give the same
// events.
func TestSSERules(t *testing.T) {
	for _, c := range []struct {
		name   string
		stream string
		want   []sseEvent
	}{
		{"LF line ends", "data: a\n\ndata: b\n\n", []sseEvent{{"", "a"}, {"", "b"}}},
		{"CRLF line ends", "data: a\r\n\r\ndata: b\r\n\r\n", []sseEvent{{"", "a"}, {"", "b"}}},
		{"CR line ends", "data: a\r\rdata: b\r\r", []sseEvent{{"", "a"}, {"", "b"}}},
		{"mixed line ends", "data: a\r\n\ndata: b\r\r\n", []sseEvent{{"", "a"}, {"", "b"}}},
		{"data without a space", "data:a\n\n", []sseEvent{{"", "a"}}},
		{"only one leading space is dropped", "data:  a\n\n", []sseEvent{{"", " a"}}},
		{"multi-line data joined with LF", "data: a\ndata: b\ndata:\n\n", []sseEvent{{"", "a\nb\n"}}},
		{"comments ignored", ": ping\ndata: a\n: more\n\n:\n\n", []sseEvent{{"", "a"}}},
		{"event field", "event: message_delta\ndata: {}\n\n", []sseEvent{{"message_delta", "{}"}}},
		{"event type resets after dispatch", "event: x\ndata: 1\n\ndata: 2\n\n", []sseEvent{{"x", "1"}, {"", "2"}}},
		{"event without data is not dispatched", "event: x\n\ndata: 2\n\n", []sseEvent{{"", "2"}}},
		{"field without colon", "data\n\n", []sseEvent{{"", ""}}},
		{"id and retry ignored", "id: 7\nretry: 10\ndata: a\n\n", []sseEvent{{"", "a"}}},
		{"unknown field ignored", "foo: bar\ndata: a\n\n", []sseEvent{{"", "a"}}},
		{"BOM dropped", "\xef\xbb\xbfdata: a\n\n", []sseEvent{{"", "a"}}},
		{"unterminated event discarded", "data: a\n\ndata: b\n", []sseEvent{{"", "a"}}},
		{"colon in value kept", "data: {\"a\":1}\n\n", []sseEvent{{"", `{"a":1}`}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := parseAll(c.stream); !slices.Equal(got, c.want) {
				t.Fatalf("whole: got %q, want %q", got, c.want)
			}
			s := c.stream
			for i := 0; i <= len(s); i++ {
				for j := i; j <= len(s); j++ {
					if got := parseAll(s[:i], s[i:j], s[j:]); !slices.Equal(got, c.want) {
						t.Fatalf("split at %d,%d: got %q, want %q", i, j, got, c.want)
					}
				}
			}
		})
	}
}

func TestSSEOversizedEventSkippedNotBuffered(t *testing.T) {
	big := strings.Repeat("x", 5000)
	var got []sseEvent
	p := sseParser{max: 1 << 10, onEvent: func(e, d []byte) { got = append(got, sseEvent{string(e), string(d)}) }}
	// An over-long line, fed a byte at a time, and an event whose data
	// lines are each short but add up past the bound.
	for _, chunk := range []string{"data: " + big + "\n\n", "data: ok1\n\n"} {
		for i := range len(chunk) {
			p.write([]byte{chunk[i]})
			if cap(p.line) > 2<<10 || cap(p.data) > 2<<10 {
				t.Fatalf("buffers grew to %d/%d bytes", cap(p.line), cap(p.data))
			}
		}
	}
	many := strings.Repeat("data: "+strings.Repeat("y", 100)+"\n", 20) + "\n"
	p.write([]byte(many + "data: ok2\n\n"))
	if want := []sseEvent{{"", "ok1"}, {"", "ok2"}}; !slices.Equal(got, want) {
		t.Fatalf("got %d events %.40q, want %q", len(got), got, want)
	}
}

func TestHasUsage(t *testing.T) {
	for s, want := range map[string]bool{
		`{"usage":{"prompt_tokens":1}}`:      true,
		`{"usage" : {"a":1}}`:                true,
		`{"usage":null}`:                     false,
		`{"usage": null,"x":"usage"}`:        false,
		`{"content":"usage"}`:                false,
		`{"content":"say \"usage\": 1"}`:     false,
		`{"a":"usage","usage":{"x":1}}`:      true,
		`{"choices":[],"usage":{"total":1}}`: true,
		`{"choices":[]}`:                     false,
	} {
		if got := hasUsage([]byte(s)); got != want {
			t.Errorf("hasUsage(%s) = %v", s, got)
		}
	}
}
