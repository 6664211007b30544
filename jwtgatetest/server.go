package jwtgatetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
)

// Behavior is how one endpoint (the JWK Set or the discovery document)
// answers; set it with SetJWKS or SetDiscovery, at any time. The zero value
// answers normally: 200, the document, ETag and Last-Modified (the JWK Set
// answers a matching conditional request with 304), no caching headers.
//
// The fields combine in this order: Hang, then Delay, then Status, then the
// body (Body, else the document cut or padded to BodySize), with Header,
// CacheControl and Expires set on every answer. The generated ETag and
// Last-Modified (and so 304) come only with the real document: not with a
// Status, Body or BodySize fault; ETag and LastModified give any 2xx
// answer validators of the test's choosing.
type Behavior struct {
	// Hang holds every request until its context ends (the client gives up
	// or times out) or the issuer is closed; it never answers.
	Hang bool
	// Delay waits this long before answering, ending early (without an
	// answer) when the request's context ends or the issuer is closed.
	// Real time, not the IssuerOptions.Now clock: it is what the client's
	// time-out sees.
	Delay time.Duration
	// Status, when not 0, answers with this status and a short plain-text
	// body instead of the document (500, 503, 404, 429 …). A 2xx status
	// serves the document with that status.
	Status int
	// Body, when not nil, is served instead of the document (garbage, a JWK
	// Set of your own, an empty body), with status 200 unless Status says
	// otherwise.
	Body []byte
	// BodySize, when > 0, serves the real document padded with a JSON
	// member to exactly this many bytes when larger than it (a valid
	// document that breaks a body-size limit), or cut to it when smaller
	// (truncated JSON).
	BodySize int
	// Header is set on every answer (after the defaults, so it can replace
	// Content-Type, ETag or Last-Modified).
	Header http.Header
	// CacheControl, when set, is sent as Cache-Control ("max-age=300",
	// "no-store").
	CacheControl string
	// Expires, when not zero, is sent as Expires (RFC 9111 §5.3).
	Expires time.Time
	// NoValidators leaves out ETag and Last-Modified and ignores
	// conditional headers: every answer is a full 200. It cannot be combined
	// with ETag or LastModified.
	NoValidators bool
	// ETag, for the JWK Set only, replaces the generated entity tag (RFC
	// 9110 §8.8.3; write it quoted: `"v2"`) on every 2xx answer, including
	// a Body or BodySize fault, and a request whose If-None-Match matches it
	// is answered with 304. That is how a test revalidates a Body of its
	// own, and, left unchanged across a Rotate, serves a stale 304. "": the
	// generated one (none with a Body or BodySize fault).
	ETag string
	// LastModified, for the JWK Set only, replaces Last-Modified the same
	// way: If-Modified-Since at or after it (with no If-None-Match) gets
	// 304. Zero: the generated one, or none with a Body or BodySize fault
	// (then If-Modified-Since alone never gets 304 when ETag is set).
	LastModified time.Time
	// Issuer, for the discovery document only, replaces its issuer (a
	// provider answering for another issuer, which a client must refuse:
	// OpenID Connect Discovery §4.3). "": the real one.
	Issuer string
	// JWKSURI, for the discovery document only, replaces its jwks_uri. "":
	// the real one.
	JWKSURI string
}

// Stats counts requests as they arrive, before any fault, so a request that
// hangs or fails counts too.
type Stats struct {
	// Discovery counts requests for the discovery document.
	Discovery int
	// JWKS counts requests for the JWK Set, conditional or not.
	JWKS int
	// JWKSConditional counts JWK Set requests carrying If-None-Match or
	// If-Modified-Since; JWKS - JWKSConditional are unconditional.
	JWKSConditional int
	// JWKSNotModified counts JWK Set requests answered with 304.
	JWKSNotModified int
}

// SetJWKS sets how the JWK Set endpoint answers from the next request on.
// SetJWKS(Behavior{}) restores the normal answer.
func (i *Issuer) SetJWKS(b Behavior) error {
	if err := b.check(); err != nil {
		return err
	}
	i.mu.Lock()
	i.jwks = b.clone()
	i.mu.Unlock()
	return nil
}

// SetDiscovery sets how the discovery endpoint answers from the next
// request on. SetDiscovery(Behavior{}) restores the normal answer.
func (i *Issuer) SetDiscovery(b Behavior) error {
	if err := b.check(); err != nil {
		return err
	}
	i.mu.Lock()
	i.discovery = b.clone()
	i.mu.Unlock()
	return nil
}

func (b Behavior) check() error {
	switch {
	case b.Delay < 0:
		return fmt.Errorf("jwtgatetest: Behavior.Delay must not be negative")
	case b.BodySize < 0:
		return fmt.Errorf("jwtgatetest: Behavior.BodySize must not be negative")
	case b.Status != 0 && (b.Status < 200 || b.Status > 599):
		return fmt.Errorf("jwtgatetest: Behavior.Status %d is not a final HTTP status", b.Status)
	case b.Status == http.StatusNotModified:
		return fmt.Errorf("jwtgatetest: Behavior.Status 304 is sent for conditional requests on its own; it cannot be forced")
	case b.NoValidators && (b.ETag != "" || !b.LastModified.IsZero()):
		return fmt.Errorf("jwtgatetest: Behavior.NoValidators cannot be combined with ETag or LastModified")
	}
	return nil
}

// clone keeps the caller's later edits of Header and Body out of a running
// server.
func (b Behavior) clone() Behavior {
	b.Header = b.Header.Clone()
	if b.Body != nil {
		b.Body = bytes.Clone(b.Body)
	}
	return b
}

// Stats returns the request counters.
func (i *Issuer) Stats() Stats {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.stats
}

// ResetStats sets every counter to zero.
func (i *Issuer) ResetStats() {
	i.mu.Lock()
	i.stats = Stats{}
	i.mu.Unlock()
}

// Handler returns the issuer's HTTP handler (what its server serves), for
// tests that mount it elsewhere, such as behind an in-memory RoundTripper.
// Its discovery document names the issuer's URL whatever host it is
// mounted on.
func (i *Issuer) Handler() http.Handler { return i.handler }

func (i *Issuer) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, i.serveDiscovery)
	mux.HandleFunc("GET "+JWKSPath, i.serveJWKS)
	return mux
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	i.stats.Discovery++
	b := i.discovery
	i.mu.Unlock()
	if h := i.opts.OnRequest; h != nil {
		h(Request{Path: DiscoveryPath, Header: r.Header})
	}
	doc := map[string]any{
		"issuer":                                i.url,
		"jwks_uri":                              i.url + JWKSPath,
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": i.opts.Algorithms,
	}
	for name, v := range i.opts.Discovery {
		doc[name] = v
	}
	if b.Issuer != "" {
		doc["issuer"] = b.Issuer
	}
	if b.JWKSURI != "" {
		doc["jwks_uri"] = b.JWKSURI
	}
	body, err := json.Marshal(doc)
	if err != nil {
		http.Error(w, "jwtgatetest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The discovery document carries no validators: clients don't revalidate
	// it, and it changes only when a Behavior does.
	b.ETag, b.LastModified, b.NoValidators = "", time.Time{}, true
	i.answer(w, r, b, body, "", time.Time{})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	conditional := r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != ""
	i.mu.Lock()
	i.stats.JWKS++
	if conditional {
		i.stats.JWKSConditional++
	}
	b := i.jwks
	set := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, len(i.keys))}
	for n, k := range i.keys {
		set.Keys[n] = k.jwk.Marshal()
	}
	etag := `"` + i.etagNonce + "-" + strconv.Itoa(i.etagSeq) + `"`
	lastMod := i.lastModified
	i.mu.Unlock()
	if h := i.opts.OnRequest; h != nil {
		h(Request{Path: JWKSPath, Conditional: conditional, Header: r.Header})
	}
	body, err := json.Marshal(set)
	if err != nil {
		http.Error(w, "jwtgatetest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	i.answer(w, r, b, body, etag, lastMod)
}

// wait applies a behaviour's Hang and Delay to one request (the issuer's
// and the token endpoint's): it reports whether the request is to be
// answered now, and aborts the connection when closing ends the wait first.
func wait(w http.ResponseWriter, r *http.Request, hang bool, delay time.Duration, closing <-chan struct{}) bool {
	if hang {
		select {
		case <-r.Context().Done():
		case <-closing:
			abort(w)
		}
		return false
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-closing:
			abort(w)
			return false
		}
	}
	return true
}

// answer applies b to one request whose normal answer is doc.
func (i *Issuer) answer(w http.ResponseWriter, r *http.Request, b Behavior, doc []byte, etag string, lastMod time.Time) {
	if !wait(w, r, b.Hang, b.Delay, i.closing) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if b.CacheControl != "" {
		h.Set("Cache-Control", b.CacheControl)
	}
	if !b.Expires.IsZero() {
		h.Set("Expires", b.Expires.UTC().Format(http.TimeFormat))
	}
	if b.Status != 0 && (b.Status < 200 || b.Status > 299) {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		for name, vs := range b.Header {
			h[http.CanonicalHeaderKey(name)] = vs
		}
		w.WriteHeader(b.Status)
		fmt.Fprintf(w, "jwtgatetest: fault: status %d\n", b.Status)
		return
	}
	// Generated validators describe the document; a Body or BodySize fault
	// is not it. The test's own describe whatever it serves.
	validators := !b.NoValidators && etag != "" && b.Body == nil && b.BodySize == 0
	if b.ETag != "" || !b.LastModified.IsZero() {
		validators = true
		if b.ETag != "" || b.Body != nil || b.BodySize > 0 {
			etag = b.ETag
		}
		if !b.LastModified.IsZero() || b.Body != nil || b.BodySize > 0 {
			lastMod = b.LastModified
		}
	}
	if validators {
		if etag != "" {
			h.Set("ETag", etag)
		}
		if !lastMod.IsZero() {
			h.Set("Last-Modified", lastMod.UTC().Format(http.TimeFormat))
		}
	}
	for name, vs := range b.Header {
		h[http.CanonicalHeaderKey(name)] = vs
	}
	if validators && notModified(r, etag, lastMod) {
		i.mu.Lock()
		i.stats.JWKSNotModified++
		i.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := doc
	switch {
	case b.Body != nil:
		body = b.Body
	case b.BodySize > 0:
		body = resize(doc, b.BodySize)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := http.StatusOK
	if b.Status != 0 {
		status = b.Status
	}
	w.WriteHeader(status)
	_, _ = w.Write(body) // a failed write means the client left
}

// abort drops the connection of a request the issuer gives up on at Close,
// so the client sees a failure rather than an empty 200. Where the writer
// cannot be hijacked (an in-process recorder, HTTP/2) the handler just
// returns.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
		}
	}
}

// notModified follows RFC 9110 §13.2.2: If-None-Match, when present,
// decides alone; otherwise If-Modified-Since.
func notModified(r *http.Request, etag string, lastMod time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for tag := range strings.SplitSeq(inm, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == etag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !lastMod.IsZero() {
		t, err := http.ParseTime(ims)
		return err == nil && !lastMod.After(t)
	}
	return false
}

// resize pads the JSON object doc to n bytes with a "padding" member, or cuts
// it to n bytes when it is already longer.
func resize(doc []byte, n int) []byte {
	const pre, post = `,"padding":"`, `"}`
	fill := n - len(doc) + 1 - len(pre) - len(post) // +1: doc's closing brace is replaced
	if len(doc) >= n || fill < 0 || len(doc) == 0 || doc[len(doc)-1] != '}' {
		out := bytes.Repeat([]byte{' '}, n)
		copy(out, doc)
		return out[:n]
	}
	out := make([]byte, 0, n)
	out = append(out, doc[:len(doc)-1]...)
	out = append(out, pre...)
	out = append(out, bytes.Repeat([]byte{'x'}, fill)...)
	out = append(out, post...)
	return out
}
