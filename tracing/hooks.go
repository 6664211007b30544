package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/middleware"
)

// OnRateLimit records a jwtgate.ratelimit span under the request's span for
// one limiter call: set it as (or chain it into)
// middleware.RateLimit.OnDecision. The event carries no duration, so the
// span marks the moment of the decision. Attributes: jwtgate.reason
// ("allowed", "limited", "error", "no_key"), jwtgate.tier, jwtgate.cost,
// ratelimit.limit and ratelimit.remaining; never the key (a subject). A
// limited or failed call sets the status to Error.
func (t *Tracer) OnRateLimit(e middleware.RateLimitEvent) {
	if !recording(e.Context) {
		return
	}
	_, span := t.tracer.Start(e.Context, SpanRateLimit)
	span.SetAttributes(
		attribute.String("jwtgate.reason", e.Reason),
		attribute.String("jwtgate.tier", e.Tier),
		attribute.Int("jwtgate.cost", e.Cost),
		attribute.Int("ratelimit.limit", e.Decision.Limit),
		attribute.Int("ratelimit.remaining", e.Decision.Remaining),
	)
	if e.Reason == "limited" || e.Reason == "error" {
		span.SetStatus(codes.Error, e.Reason)
	}
	span.End()
}

// OnBudget records a budget step under the request's span: set it as (or
// chain it into) budget.Config.Observer. A charge is a span named
// jwtgate.budget.charge (after the response, so inside a streamed
// request's span, at its end); a refusal, an error, a request without a key
// or an unreadable body is jwtgate.budget.check. budget.Handler reports
// no event for a check that let the request through, so none is recorded
// for it. Attributes: jwtgate.budget.kind, jwtgate.budget.level (subject,
// tenant, route), jwtgate.tier, jwtgate.budget.cost,
// jwtgate.budget.model, jwtgate.budget.fallback, jwtgate.shadow; never
// the key.
func (t *Tracer) OnBudget(e budget.Event) {
	if !recording(e.Context) {
		return
	}
	name := "jwtgate.budget.check"
	if e.Kind == budget.KindCharged || (e.Kind == budget.KindError && e.Cost > 0) {
		name = "jwtgate.budget.charge"
	}
	_, span := t.tracer.Start(e.Context, name)
	span.SetAttributes(
		attribute.String("jwtgate.budget.kind", e.Kind.String()),
		attribute.String("jwtgate.budget.level", e.Level.String()),
		attribute.String("jwtgate.tier", e.Tier),
		attribute.Bool("jwtgate.shadow", e.Shadow),
	)
	if e.Kind == budget.KindCharged || e.Cost > 0 {
		span.SetAttributes(
			attribute.Int64("jwtgate.budget.cost", e.Cost),
			attribute.String("jwtgate.budget.model", e.Model),
			attribute.String("jwtgate.budget.fallback", e.Fallback),
		)
	}
	switch e.Kind {
	case budget.KindRefused, budget.KindError, budget.KindInvalidRequest, budget.KindNoTenant:
		span.SetStatus(codes.Error, e.Kind.String())
	}
	span.End()
}

// CacheObserver returns next with hooks added that record the key cache's
// work: a jwtgate.jwks.fetch span per HTTP request the cache makes and a
// jwtgate.jwks.refresh span per refresh attempt. They run on the cache's
// own goroutines, outlive or serve many requests, so each is the root of a
// trace of its own; a refresh that requests waited for (an unknown kid, a
// recheck), and its fetches, carry a span link to each waiting request's
// span (the first cache.MaxEventWaiters of them), from the events'
// Waiters, and each waiting request's span links back to the refresh. A
// background refresh nobody waited for has no links. Set the result as
// cache.Config.Observer. next's hooks are called first (nil hooks are
// skipped).
func (t *Tracer) CacheObserver(next cache.Observer) cache.Observer {
	out := next
	out.OnFetch = func(e cache.FetchEvent) {
		if next.OnFetch != nil {
			next.OnFetch(e)
		}
		t.fetch(e)
	}
	out.OnRefresh = func(e cache.RefreshEvent) {
		if next.OnRefresh != nil {
			next.OnRefresh(e)
		}
		t.refresh(e)
	}
	return out
}

func (t *Tracer) fetch(e cache.FetchEvent) {
	span, end := t.spanAt(context.Background(), SpanFetch, e.Duration, trace.SpanKindClient, links(e.Waiters)...)
	if !span.IsRecording() {
		span.End(trace.WithTimestamp(end))
		return
	}
	span.SetAttributes(
		attribute.String("jwtgate.provider", e.Provider),
		attribute.String("jwtgate.fetch.kind", string(e.Kind)),
		attribute.String("url.full", e.URL),
		attribute.Int("http.response.status_code", e.Status),
		attribute.Int("jwtgate.fetch.bytes", e.Bytes),
	)
	if e.Err != nil {
		span.SetStatus(codes.Error, e.Err.Error())
	}
	span.End(trace.WithTimestamp(end))
}

func (t *Tracer) refresh(e cache.RefreshEvent) {
	span, end := t.spanAt(context.Background(), SpanRefresh, e.Duration, trace.SpanKindInternal, links(e.Waiters)...)
	// And back: each waiting request's span, still open (the hook runs
	// before the waiters are released), links to the refresh it waited
	// for. A waiter that left has ended its span, which ignores the link.
	if sc := span.SpanContext(); sc.IsValid() {
		for _, w := range e.Waiters {
			if ws := trace.SpanFromContext(w); ws.IsRecording() {
				ws.AddLink(trace.Link{SpanContext: sc})
			}
		}
	}
	if !span.IsRecording() {
		span.End(trace.WithTimestamp(end))
		return
	}
	span.SetAttributes(
		attribute.String("jwtgate.provider", e.Provider),
		attribute.String("jwtgate.refresh.reason", string(e.Reason)),
		attribute.String("jwtgate.refresh.outcome", string(e.Outcome)),
		attribute.Int("jwtgate.refresh.keys", e.Keys),
		attribute.Int("jwtgate.refresh.skipped_keys", e.SkippedKeys),
		attribute.Int64("jwtgate.refresh.generation", int64(e.Generation)),
	)
	if e.Err != nil {
		span.SetStatus(codes.Error, e.Err.Error())
	}
	span.End(trace.WithTimestamp(end))
}

// links returns a span link to the span of each waiter that has one (a
// request's, from Handler), as a start option.
func links(waiters []context.Context) []trace.SpanStartOption {
	if len(waiters) == 0 {
		return nil
	}
	ls := make([]trace.Link, 0, len(waiters))
	for _, w := range waiters {
		if sc := trace.SpanContextFromContext(w); sc.IsValid() {
			ls = append(ls, trace.Link{SpanContext: sc})
		}
	}
	if len(ls) == 0 {
		return nil
	}
	return []trace.SpanStartOption{trace.WithLinks(ls...)}
}
