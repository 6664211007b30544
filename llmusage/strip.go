package llmusage

import (
	"encoding/json"
	"io"
)

// UsageChunkFilter passes an OpenAI Chat Completions event stream on to w
// without its usage-only chunk (choices empty, usage set): the chunk
// stream_options.include_usage adds, for a gateway that asked for it
// (AddIncludeUsage) when the client did not, so the client gets the stream
// it asked for. Every other event passes byte for byte, each as soon as
// its blank line has arrived; only an unfinished event is held back, and
// one longer than maxEvent stops the filtering (it and all that follows
// pass through), so memory stays bounded.
//
// It splits events as the WHATWG rules do (CR, LF or CRLF line ends, split
// anywhere). Close writes out what is held back when the stream ends.
type UsageChunkFilter struct {
	w       io.Writer
	max     int
	buf     []byte
	lineEnd bool // the last byte ended a line (a blank line next ends the event)
	cr      bool // the last byte was CR: an LF right after belongs to it
	off     bool // filtering stopped: pass everything
	// evCR: the last event ended on a CR at the end of a write, so an LF
	// starting the next write is the rest of its line end and goes where
	// the event went (evDropped: nowhere).
	evCR, evDropped bool
}

// NewUsageChunkFilter returns a filter writing to w. maxEvent ≤ 0 means
// DefaultMaxEvent.
func NewUsageChunkFilter(w io.Writer, maxEvent int) *UsageChunkFilter {
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEvent
	}
	return &UsageChunkFilter{w: w, max: maxEvent, lineEnd: true}
}

// Write takes the next bytes of the stream. It reports len(p) written
// unless w fails.
func (f *UsageChunkFilter) Write(p []byte) (int, error) {
	if f.off {
		return f.w.Write(p)
	}
	if f.evCR && len(p) > 0 {
		f.evCR = false
		if p[0] == '\n' {
			f.cr = false
			if !f.evDropped {
				if _, err := f.w.Write(p[:1]); err != nil {
					return 0, err
				}
			}
			n, err := f.Write(p[1:])
			return n + 1, err
		}
	}
	start := 0 // p[start:i] is the current event's part in p
	for i := 0; i < len(p); i++ {
		c := p[i]
		if f.cr && c == '\n' { // the LF of a CRLF: same line end
			f.cr = false
			continue
		}
		f.cr = c == '\r'
		if c != '\n' && c != '\r' {
			f.lineEnd = false
			continue
		}
		if !f.lineEnd {
			f.lineEnd = true
			continue
		}
		// A blank line: the event ends here (with its CRLF's LF, if any).
		end := i + 1
		if c == '\r' && end < len(p) && p[end] == '\n' {
			end++
			i++
			f.cr = false
		}
		f.buf = append(f.buf, p[start:end]...)
		start = end
		dropped, err := f.emit()
		if err != nil {
			return 0, err
		}
		if c == '\r' && end == len(p) {
			f.evCR, f.evDropped = true, dropped
		}
	}
	f.buf = append(f.buf, p[start:]...)
	if len(f.buf) > f.max {
		f.off = true
		_, err := f.w.Write(f.buf)
		f.buf = nil
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// emit writes the finished event in buf unless it is the usage-only chunk
// (dropped).
func (f *UsageChunkFilter) emit() (dropped bool, err error) {
	ev := f.buf
	f.buf = f.buf[:0:0]
	if usageOnly(ev) {
		return true, nil
	}
	_, err = f.w.Write(ev)
	return false, err
}

// Close writes out an unfinished event (a stream cut short).
func (f *UsageChunkFilter) Close() error {
	if len(f.buf) == 0 {
		return nil
	}
	_, err := f.w.Write(f.buf)
	f.buf = nil
	return err
}

// usageOnly reports whether the raw event is a Chat Completions chunk with
// an empty choices array and a usage object.
func usageOnly(ev []byte) bool {
	var data []byte
	found := false
	p := sseParser{max: len(ev) + 1, onEvent: func(_, d []byte) { data, found = append(data[:0], d...), true }}
	p.write(ev)
	if !found {
		return false
	}
	var chunk struct {
		Choices *[]json.RawMessage `json:"choices"`
		Usage   json.RawMessage    `json:"usage"`
	}
	if json.Unmarshal(data, &chunk) != nil || chunk.Choices == nil || len(*chunk.Choices) != 0 {
		return false
	}
	return len(chunk.Usage) > 0 && !isNull(chunk.Usage)
}
