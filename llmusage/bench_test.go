package llmusage

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// streamMB is about a mebibyte of Chat Completions chunks (~4000 events)
// ending with the usage chunk: the shape a long streamed answer has.
func streamMB() []byte {
	chunk := `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"` + strings.Repeat("token ", 30) + `"},"finish_reason":null}],"usage":null}` + "\n\n"
	var b bytes.Buffer
	for b.Len() < 1<<20 {
		b.WriteString(chunk)
	}
	b.WriteString(`data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4000}}` + "\n\ndata: [DONE]\n\n")
	return b.Bytes()
}

// sink stands for the client's socket: it copies what it is given, as a
// write to a connection's buffer does, so the plain copy is not free.
type sink struct{ buf [32 << 10]byte }

func (s *sink) Write(p []byte) (int, error) { return copy(s.buf[:], p), nil }

// copyIn32K copies src to dst in the 32 KiB writes io.Copy and
// ReverseProxy make.
func copyIn32K(dst io.Writer, src []byte, tap *Tap) {
	for len(src) > 0 {
		n := min(len(src), 32<<10)
		dst.Write(src[:n])
		if tap != nil {
			tap.Write(src[:n])
		}
		src = src[n:]
	}
}

// BenchmarkStreamPlainCopy and BenchmarkStreamTap copy the same
// mebibyte; their ns/op ratio is the tap's cost per streamed megabyte.
func BenchmarkStreamPlainCopy(b *testing.B) {
	src := streamMB()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		copyIn32K(new(sink), src, nil)
	}
}

func BenchmarkStreamTap(b *testing.B) {
	src := streamMB()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		tap, _ := NewTap(TapConfig{Format: OpenAIChat, ContentType: "text/event-stream"})
		copyIn32K(new(sink), src, tap)
		if _, ok := tap.Usage(); !ok {
			b.Fatal(tap.Err())
		}
	}
}

// BenchmarkStreamTapSmallWrites: one write per event, as an upstream that
// flushes every event produces.
func BenchmarkStreamTapSmallWrites(b *testing.B) {
	src := streamMB()
	events := bytes.SplitAfter(src, []byte("\n\n"))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		tap, _ := NewTap(TapConfig{Format: OpenAIChat, ContentType: "text/event-stream"})
		dst := new(sink)
		for _, e := range events {
			dst.Write(e)
			tap.Write(e)
		}
		if _, ok := tap.Usage(); !ok {
			b.Fatal(tap.Err())
		}
	}
}

func BenchmarkBodyTap(b *testing.B) {
	body := []byte(`{"id":"x","model":"gpt-4o","choices":[{"message":{"content":"` + strings.Repeat("word ", 2000) + `"}}],"usage":{"prompt_tokens":11,"completion_tokens":5}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		tap, _ := NewTap(TapConfig{Format: OpenAIChat, ContentType: "application/json"})
		copyIn32K(new(sink), body, tap)
		if _, ok := tap.Usage(); !ok {
			b.Fatal(tap.Err())
		}
	}
}

// chatRequest is a streaming Chat Completions request of about 16 KiB (a
// conversation of 40 messages) without stream_options.
func chatRequest() []byte {
	var b bytes.Buffer
	b.WriteString(`{"model":"gpt-4o-mini","stream":true,"max_tokens":512,"messages":[`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"role":"user","content":"` + strings.Repeat("word ", 80) + `"}`)
	}
	b.WriteString(`],"temperature":0.2}`)
	return b.Bytes()
}

// BenchmarkRequest is what package budget does with such a body when
// IncludeUsage is on: ParseRequest, then AddIncludeUsage.
func BenchmarkRequest(b *testing.B) {
	body := chatRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(body, 0); err != nil {
			b.Fatal(err)
		}
		if _, changed := AddIncludeUsage(body, 0); !changed {
			b.Fatal("not changed")
		}
	}
}
