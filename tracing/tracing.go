package tracing

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every span a Tracer makes.
const ScopeName = "github.com/jwtgate/jwtgate/tracing"

// Span names.
const (
	SpanVerify    = "jwtgate.verify"
	SpanRateLimit = "jwtgate.ratelimit"
	SpanFetch     = "jwtgate.jwks.fetch"
	SpanRefresh   = "jwtgate.jwks.refresh"
)

// Config configures a Tracer. The zero value is usable: the global
// TracerProvider, W3C trace context, and no incoming trace context honoured.
type Config struct {
	// TracerProvider makes the spans. Nil: otel.GetTracerProvider() (a
	// no-op until the program sets one).
	TracerProvider trace.TracerProvider
	// Propagator reads the incoming trace context (when TrustIncoming
	// allows) and writes the outgoing one on upstream calls. Nil:
	// propagation.TraceContext{} (W3C traceparent and tracestate).
	Propagator propagation.TextMapPropagator
	// TrustIncoming decides per request whether the client's trace context
	// (traceparent) is honoured: true makes the server span a child of the
	// client's span. Nil: never; every request starts a trace of its own
	// (a client cannot choose trace IDs or force sampling). A typical
	// value trusts only requests from a proxy or mesh of your own.
	TrustIncoming func(*http.Request) bool
	// Sample, when not nil, decides before any span is started whether a
	// request without a trusted parent is traced at all: false serves it
	// as if there were no tracer (no span, no context, no traceparent
	// upstream), at the cost of an untraced request plus this call —
	// where a span the SDK's sampler declines still costs its start. Use it
	// for the root sampling decision (RatioSample) and give the SDK a
	// sampler that records what gets this far. Nil: the SDK's sampler
	// decides every request.
	Sample func(*http.Request) bool
}

// RatioSample returns a Sample that traces a fraction p (0 to 1) of the
// requests, at random.
func RatioSample(p float64) func(*http.Request) bool {
	switch {
	case p <= 0:
		return func(*http.Request) bool { return false }
	case p >= 1:
		return func(*http.Request) bool { return true }
	}
	return func(*http.Request) bool { return rand.Float64() < p }
}

// Tracer makes jwtgate's spans: the server span of each request (Handler),
// verification (OnVerify), the rate limit (OnRateLimit), the key cache's
// fetches and refreshes (CacheObserver), budget steps (OnBudget) and the
// upstream call (Transport). Create it with New; safe for concurrent use.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	trust  func(*http.Request) bool
	sample func(*http.Request) bool
	server []trace.SpanStartOption // made once: an option boxed per request allocates
}

// New returns a Tracer for cfg.
func New(cfg Config) (*Tracer, error) {
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return &Tracer{
		tracer: tp.Tracer(ScopeName), prop: prop, trust: cfg.TrustIncoming, sample: cfg.Sample,
		server: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
	}, nil
}

// Handler wraps next in a server span per request, named after the method.
// The span ends when next returns, so a streamed response is inside it.
// Its attributes: http.request.method, url.path, http.response.status_code,
// and jwtgate.reason once OnVerify has seen the request. A 5xx sets the
// span's status to Error.
func (t *Tracer) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		incoming := false
		if t.trust != nil && t.trust(r) {
			ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
			incoming = trace.SpanContextFromContext(ctx).IsValid()
		} else if trace.SpanContextFromContext(ctx).IsValid() {
			// An untrusted client's context never becomes the parent,
			// even when an outer layer already extracted it.
			ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
		}
		if !incoming && t.sample != nil && !t.sample(r) {
			// Not traced, decided before the SDK pays for a span (an
			// untrusted context an outer layer extracted stays blanked).
			if ctx != r.Context() {
				r = r.WithContext(ctx)
			}
			next.ServeHTTP(w, r)
			return
		}
		ctx, span := t.tracer.Start(ctx, r.Method, t.server...)
		defer span.End()
		if !span.IsRecording() {
			// Not sampled: nothing below would record. The request keeps
			// its own context (a copy of the request costs more than the
			// rest of an unsampled trace), so the upstream gets no
			// traceparent and samples by itself — unless the context
			// came from a trusted client, whose decision travels on.
			if incoming || span.SpanContext().IsSampled() {
				r = r.WithContext(ctx)
			}
			next.ServeHTTP(w, r)
			return
		}
		span.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
		)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
	})
}

// statusWriter records the status code; Unwrap lets http.ResponseController
// reach Flush, Hijack and the deadlines of the writer beneath.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush is here because http.Flusher is found by type assertion (as
// ReverseProxy and many SSE writers do), not only through Unwrap.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recording reports whether ctx holds a span that records: child spans of a
// request are made only under one, so an unsampled request costs no more
// than a context look-up here.
func recording(ctx context.Context) bool {
	return ctx != nil && trace.SpanFromContext(ctx).IsRecording()
}

// spanAt starts a span that ended now and lasted d.
func (t *Tracer) spanAt(ctx context.Context, name string, d time.Duration, kind trace.SpanKind, opts ...trace.SpanStartOption) (trace.Span, time.Time) {
	end := time.Now()
	_, span := t.tracer.Start(ctx, name, append(opts, trace.WithTimestamp(end.Add(-d)), trace.WithSpanKind(kind))...)
	return span, end
}
