package tracing

import (
	"io"
	"net/http"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Transport returns rt wrapped so that each upstream call is a client span
// under the request's span, and the trace context goes upstream in the
// Propagator's headers (W3C traceparent by default), so the upstream's spans
// join the trace. Whatever trace headers the client sent are removed first:
// the upstream sees the gateway's context or none. A call whose context
// holds no span (an unsampled request behind Handler, or no Handler at
// all) makes no span: it would be the root of a trace of its own. The span ends when the
// response body is closed or read to its end (so a streamed response is
// inside it), or when rt fails. nil rt means http.DefaultTransport.
func (t *Tracer) Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &transport{t: t, next: rt}
}

type transport struct {
	t    *Tracer
	next http.RoundTripper
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		// Outside a traced request (an unsampled one keeps no span in
		// its context): no span of our own, which would be a root, and
		// no trace context from the client either.
		return tr.next.RoundTrip(tr.stripped(r))
	}
	ctx, span := tr.t.tracer.Start(r.Context(), r.Method, trace.WithSpanKind(trace.SpanKindClient))
	r = r.Clone(ctx)
	for _, f := range tr.t.prop.Fields() {
		r.Header.Del(f)
	}
	tr.t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("server.address", r.URL.Host),
			attribute.String("url.path", r.URL.Path),
		)
	}
	resp, err := tr.next.RoundTrip(r)
	if err != nil {
		span.SetStatus(codes.Error, "upstream call failed")
		span.SetAttributes(attribute.String("error.type", "transport"))
		span.End()
		return resp, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	// A 101's body is the upgraded connection (an io.ReadWriteCloser that
	// ReverseProxy needs as such): leave it alone.
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		span.End()
		return resp, nil
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// stripped returns r without the propagator's headers, cloned only when it
// has any.
func (tr *transport) stripped(r *http.Request) *http.Request {
	fields := tr.t.prop.Fields()
	for _, f := range fields {
		if _, ok := r.Header[http.CanonicalHeaderKey(f)]; ok {
			r = r.Clone(r.Context())
			for _, f := range fields {
				r.Header.Del(f)
			}
			return r
		}
	}
	return r
}

// spanBody ends the client span at EOF or Close, whichever comes first.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.end()
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}

func (b *spanBody) end() {
	b.once.Do(func() { b.span.End() })
}
