package llmusage

import (
	"bufio"
	"io"
	"testing"
)

// The tap holds nothing back: through a pipe, the reader gets the first
// event while the upstream is still blocked before writing the rest.
func TestTeeDoesNotDelayFirstEvent(t *testing.T) {
	pr, pw := io.Pipe()
	tap, _ := NewTap(TapConfig{Format: OpenAIChat, ContentType: "text/event-stream"})
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"))
		<-release // the rest only once the first event has been read
		pw.Write([]byte("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"))
		pw.Close()
	}()
	br := bufio.NewReader(io.TeeReader(pr, tap))
	line, err := br.ReadString('\n')
	if err != nil || line != "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(release)
	io.Copy(io.Discard, br)
	<-done
	if u, ok := tap.Usage(); !ok || u.Input != 3 || u.Output != 1 {
		t.Fatalf("Usage = %+v, %v (%v)", u, ok, tap.Err())
	}
}
