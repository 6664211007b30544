package tracing

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jwtgate/jwtgate/middleware"
)

// OnVerify records a jwtgate.verify span under the request's span for one
// middleware.VerifyEvent: set it as (or chain it into)
// middleware.Config.OnVerify. The span ends when the event arrives and
// starts Duration before; its attributes are jwtgate.cache_hit,
// jwtgate.alg ("" until the alg passed the allow-list),
// jwtgate.credential ("jwt", or "none" for an anonymous request) and
// jwtgate.reason; a refusal sets the status to Error with the reason.
// The token and the claims are never recorded. The request's span gets
// jwtgate.reason too. Nothing is recorded when the request's span does
// not record (not sampled, or no Handler around the Verifier).
func (t *Tracer) OnVerify(e middleware.VerifyEvent) {
	if !recording(e.Context) {
		return
	}
	parent := trace.SpanFromContext(e.Context)
	parent.SetAttributes(attribute.String("jwtgate.reason", e.Reason))
	span, end := t.spanAt(e.Context, SpanVerify, e.Duration, trace.SpanKindInternal)
	cred := "jwt"
	switch {
	case e.Anonymous:
		cred = "none"
	case e.Kind > middleware.CredentialJWT:
		cred = e.Kind.String()
	}
	span.SetAttributes(
		attribute.Bool("jwtgate.cache_hit", e.CacheHit),
		attribute.String("jwtgate.alg", e.Alg),
		attribute.String("jwtgate.credential", cred),
		attribute.String("jwtgate.reason", e.Reason),
	)
	if e.Recheck {
		span.SetAttributes(attribute.Bool("jwtgate.recheck", true))
	}
	if e.Err != nil {
		span.SetStatus(codes.Error, e.Reason)
		parent.SetStatus(codes.Error, e.Reason)
	}
	span.End(trace.WithTimestamp(end))
}
