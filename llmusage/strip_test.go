package llmusage

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageChunkFilter(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n", "\r"} {
		l := func(s string) string { return strings.ReplaceAll(s, "\n", eol) }
		in := l(`data: {"choices":[{"delta":{"content":"Hi"}}],"usage":null}` + "\n\n" +
			": a comment\n\n" +
			`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}` + "\n\n" +
			"data: [DONE]\n\n")
		want := l(`data: {"choices":[{"delta":{"content":"Hi"}}],"usage":null}` + "\n\n" +
			": a comment\n\n" +
			"data: [DONE]\n\n")
		// Split at every byte pair: events and line ends cross writes.
		for i := 0; i <= len(in); i++ {
			for j := i; j <= len(in); j += 7 {
				var out bytes.Buffer
				f := NewUsageChunkFilter(&out, 0)
				for _, part := range []string{in[:i], in[i:j], in[j:]} {
					if n, err := f.Write([]byte(part)); err != nil || n != len(part) {
						t.Fatalf("Write: %d %v", n, err)
					}
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				if out.String() != want {
					t.Fatalf("eol %q split %d/%d:\n got %q\nwant %q", eol, i, j, out.String(), want)
				}
			}
		}
	}
}

func TestUsageChunkFilterPassesEventsAtOnceAndBoundsMemory(t *testing.T) {
	var out bytes.Buffer
	f := NewUsageChunkFilter(&out, 64)
	f.Write([]byte("data: one\n\ndata: tw"))
	if out.String() != "data: one\n\n" {
		t.Fatalf("a finished event was held back: %q", out.String())
	}
	big := "data: " + strings.Repeat("x", 100)
	f.Write([]byte(big))
	if !strings.HasSuffix(out.String(), big) {
		t.Fatalf("an event over the bound was kept: %q", out.String())
	}
	f.Write([]byte(`data: {"choices":[],"usage":{"prompt_tokens":1}}` + "\n\n"))
	if !strings.Contains(out.String(), `"usage"`) {
		t.Fatal("filtering went on after the bound")
	}
	// An unfinished event at the end of the stream is written out by Close.
	var out2 bytes.Buffer
	g := NewUsageChunkFilter(&out2, 0)
	g.Write([]byte("data: cut"))
	g.Close()
	if out2.String() != "data: cut" {
		t.Fatalf("Close: %q", out2.String())
	}
}

func TestUsageOnly(t *testing.T) {
	for ev, want := range map[string]bool{
		`data: {"choices":[],"usage":{"prompt_tokens":1}}` + "\n\n":   true,
		`data: {"choices":[],"usage":null}` + "\n\n":                  false,
		`data: {"choices":[{}],"usage":{"prompt_tokens":1}}` + "\n\n": false,
		`data: {"usage":{"prompt_tokens":1}}` + "\n\n":                false,
		"data: [DONE]\n\n": false,
		": comment\n\n":    false,
	} {
		if got := usageOnly([]byte(ev)); got != want {
			t.Errorf("usageOnly(%q) = %v", ev, got)
		}
	}
}

func FuzzUsageChunkFilter(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: x\r\n\r\n"), 3)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		var out bytes.Buffer
		uf := NewUsageChunkFilter(&out, 256)
		uf.Write(in[:split])
		uf.Write(in[split:])
		uf.Close()
		if out.Len() > len(in) {
			t.Fatalf("the filter added bytes: %d > %d", out.Len(), len(in))
		}
	})
}
