package llmusage

import "bytes"

// sseParser splits a text/event-stream into events by the WHATWG rules
// (HTML Living Standard, "Interpreting an event stream"): lines end with
// CRLF, LF or CR; a blank line dispatches the event; "data" lines join
// with "\n"; one space after the colon is dropped; lines starting with
// ':' are comments; a leading BOM is dropped; an event still open when
// the stream ends is discarded. Input may be split anywhere, even between
// a CR and its LF.
//
// Memory is bounded by max: a line or an event's data longer than that is
// not kept, and the event it belongs to is skipped, not dispatched.
type sseParser struct {
	max      int
	line     []byte // a line started in an earlier write
	lineOver bool   // line grew past max: the rest of it is dropped
	data     []byte
	event    []byte
	over     bool // the current event outgrew max: skip it at dispatch
	cr       bool // the last byte seen was CR: an LF right after is its pair
	seen     bool // a line was processed, so a BOM can no longer start one
	onEvent  func(event, data []byte)
}

func (p *sseParser) write(b []byte) {
	for len(b) > 0 {
		if p.cr {
			p.cr = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := eol(b)
		if i < 0 {
			p.appendLine(b)
			return
		}
		if len(p.line) > 0 || p.lineOver {
			p.appendLine(b[:i])
			p.processLine(p.line)
			p.line = p.line[:0]
		} else {
			p.processLine(b[:i])
		}
		p.cr = b[i] == '\r'
		b = b[i+1:]
	}
}

// eol returns the index of the first CR or LF in b, or -1. Two SIMD
// IndexByte scans beat a byte loop: streams almost never hold a CR, so
// the second scan only covers the first line.
func eol(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	head := b
	if i >= 0 {
		head = b[:i]
	}
	if j := bytes.IndexByte(head, '\r'); j >= 0 {
		return j
	}
	return i
}

func (p *sseParser) appendLine(b []byte) {
	if p.lineOver {
		return
	}
	if len(p.line)+len(b) > p.max {
		p.lineOver = true
		p.line = p.line[:0]
		return
	}
	p.line = append(p.line, b...)
}

func (p *sseParser) processLine(line []byte) {
	if !p.seen {
		p.seen = true
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	if p.lineOver {
		// Too long to keep: whatever field it was, the event it belongs
		// to cannot be read whole.
		p.lineOver = false
		p.over = true
		return
	}
	if len(line) == 0 {
		p.dispatch()
		return
	}
	if line[0] == ':' {
		return
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if p.over {
			return
		}
		if len(p.data)+len(value)+1 > p.max {
			p.over = true
			p.data = p.data[:0]
			return
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "event":
		if len(value) <= 64 { // longer than any event type a format uses
			p.event = append(p.event[:0], value...)
		} else {
			p.event = p.event[:0]
		}
	}
	// id and retry steer reconnection, not usage; other fields are
	// ignored by the standard.
}

func (p *sseParser) dispatch() {
	if !p.over && len(p.data) > 0 {
		p.onEvent(p.event, p.data[:len(p.data)-1])
	}
	p.data = p.data[:0]
	p.event = p.event[:0]
	p.over = false
}
