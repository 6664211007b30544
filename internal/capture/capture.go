// Package capture holds the ResponseWriter that grpcauth and extauthz hand
// to the Verifier, so that its own Authenticate and WriteError decide the
// answer and those packages only translate it: one error mapping, not three.
package capture

import "net/http"

// maxBody bounds what a custom ErrorHandler can make a Writer keep: the
// package's writer answers with well under a hundred bytes.
const maxBody = 4 << 10

// Writer records the status, headers and (bounded) body written to it. The
// zero value is ready to use; it is not safe for concurrent use, and each
// call gets its own.
type Writer struct {
	header http.Header
	Status int    // 0 until WriteHeader or Write
	Body   []byte // at most 4 KiB; the rest is dropped
}

// Header returns the headers written so far.
func (w *Writer) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// WriteHeader records the first status, as net/http does.
func (w *Writer) WriteHeader(status int) {
	if w.Status == 0 {
		w.Status = status
	}
}

func (w *Writer) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if room := maxBody - len(w.Body); room > 0 {
		w.Body = append(w.Body, b[:min(len(b), room)]...)
	}
	return len(b), nil
}

// Headers returns the recorded headers, nil when none were set, without
// allocating a map for a call that set none.
func (w *Writer) Headers() http.Header { return w.header }
