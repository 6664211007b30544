package jwtgatetest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
)

// ErrClosed is returned by the in-memory Client of an issuer without a
// server (IssuerOptions.URL) for requests made after, or cut short by,
// Close.
var ErrClosed = errors.New("jwtgatetest: issuer closed")

// memTransport calls the issuer's Handler in the caller's goroutine: no
// socket and no goroutine, so a testing/synctest bubble can use it (its
// clock then drives Delay, and a Hang is durably blocked). It answers every
// URL: the client reaches the issuer whatever host the test configured.
type memTransport struct{ i *Issuer }

func (m memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close() // a RoundTripper closes the body, even on error
	}
	if m.closed() {
		return nil, ErrClosed
	}
	rec := httptest.NewRecorder()
	m.i.handler.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err // a Hang or Delay left when the client gave up
	}
	if m.closed() {
		return nil, ErrClosed // a Hang or Delay released by Close: no answer
	}
	res := rec.Result()
	res.Request = req
	res.ContentLength = int64(rec.Body.Len())
	res.Header.Set("Content-Length", strconv.Itoa(rec.Body.Len()))
	return res, nil
}

func (m memTransport) closed() bool {
	select {
	case <-m.i.closing:
		return true
	default:
		return false
	}
}
