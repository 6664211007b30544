package gateway

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/tracing"
)

// The gateway's tracing: with Options.Tracing set, each hook the gateway
// already uses for metrics also feeds the Tracer (chained, metrics first),
// the upstream transport carries traceparent, and every request but the
// gateway's own endpoints (/healthz, /readyz, /metrics) gets a server span.

// traceHandler wraps h in the Tracer's server span, leaving the probes and
// the metrics scrape untraced.
func (g *Gateway) traceHandler(h http.Handler) http.Handler {
	if g.tracer == nil {
		return h
	}
	traced := g.tracer.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			h.ServeHTTP(w, r)
		default:
			traced.ServeHTTP(w, r)
		}
	})
}

func (g *Gateway) traceTransport(rt http.RoundTripper) http.RoundTripper {
	if g.tracer == nil {
		return rt
	}
	return g.tracer.Transport(rt)
}

func (g *Gateway) traceCache(o cache.Observer) cache.Observer {
	if g.tracer == nil {
		return o
	}
	return g.tracer.CacheObserver(o)
}

// then returns a hook calling first and then second (either may be nil).
func then[E any](first, second func(E)) func(E) {
	switch {
	case first == nil:
		return second
	case second == nil:
		return first
	}
	return func(e E) { first(e); second(e) }
}

func (g *Gateway) traceVerify(f func(middleware.VerifyEvent)) func(middleware.VerifyEvent) {
	if g.tracer == nil {
		return f
	}
	return then(f, g.tracer.OnVerify)
}

func (g *Gateway) traceRateLimit(f func(middleware.RateLimitEvent)) func(middleware.RateLimitEvent) {
	if g.tracer == nil {
		return f
	}
	return then(f, g.tracer.OnRateLimit)
}

func (g *Gateway) traceBudget(f func(budget.Event)) func(budget.Event) {
	if g.tracer == nil {
		return f
	}
	return then(f, g.tracer.OnBudget)
}

// TrustIncomingEnv names the environment variable that makes the gateway
// program honour a client's traceparent: "true" trusts every client (only
// right when all of them are your own proxies or mesh); anything else, or
// unset, means each request starts a trace of its own.
const TrustIncomingEnv = "JWTGATE_OTEL_TRUST_INCOMING"

// TracingFromEnv builds a Tracer from the standard OpenTelemetry
// environment variables, as the gateway program does. Tracing is on when
// OTEL_TRACES_EXPORTER is "otlp", or when it is unset and
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turns it off. The
// protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" or "http/protobuf" (the default).
// The exporters read the rest of OTEL_EXPORTER_OTLP_* (endpoint, headers,
// TLS, compression, time-out) themselves, from the process environment;
// the SDK reads OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES (service.name defaults to "jwtgate").
//
// It returns a nil Tracer when tracing is off. shutdown flushes the
// spans still queued and stops the exporter; call it once the gateway has
// stopped serving.
func TracingFromEnv(ctx context.Context, lookupEnv func(string) (string, bool)) (_ *tracing.Tracer, shutdown func(context.Context) error, err error) {
	get := func(k string) string { v, _ := lookupEnv(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return nil, nil, nil
	}
	switch exp := get("OTEL_TRACES_EXPORTER"); exp {
	case "":
		if get("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil, nil
		}
	case "none":
		return nil, nil, nil
	case "otlp":
	default:
		return nil, nil, fmt.Errorf("gateway: OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", exp)
	}
	proto := get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	switch proto {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, nil, fmt.Errorf("gateway: OTLP protocol %q: want grpc or http/protobuf", proto)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: OTLP exporter: %w", err)
	}
	// Later options win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the default name.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "jwtgate")),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, nil, fmt.Errorf("gateway: OTEL resource: %w", err)
	}
	sampler, sample, err := rootSampling(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"))
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if sampler != nil {
		opts = append(opts, sdktrace.WithSampler(sampler))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	cfg := tracing.Config{TracerProvider: tp, Sample: sample}
	if get(TrustIncomingEnv) == "true" {
		cfg.TrustIncoming = func(*http.Request) bool { return true }
	}
	tr, err := tracing.New(cfg)
	if err != nil {
		_ = tp.Shutdown(ctx)
		return nil, nil, err
	}
	return tr, tp.Shutdown, nil
}

// rootSampling makes the root sampling decision of OTEL_TRACES_SAMPLER
// before a span starts (tracing.Config.Sample), so that a request not
// traced costs no span: for always_off and a trace-ID ratio, sample decides
// roots and the SDK's sampler (then always-on, parent-based where the
// variable says so) records what sample admits. Other values: nil, nil —
// the SDK reads the variables itself.
func rootSampling(name, arg string) (sdktrace.Sampler, func(*http.Request) bool, error) {
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		p, err := strconv.ParseFloat(arg, 64)
		if err != nil || p < 0 || p > 1 || math.IsNaN(p) {
			return 0, fmt.Errorf("gateway: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1", arg)
		}
		return p, nil
	}
	switch name {
	case "always_off":
		return sdktrace.NeverSample(), tracing.RatioSample(0), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), tracing.RatioSample(0), nil
	case "traceidratio":
		p, err := ratio()
		return sdktrace.AlwaysSample(), tracing.RatioSample(p), err
	case "parentbased_traceidratio":
		p, err := ratio()
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), tracing.RatioSample(p), err
	}
	return nil, nil, nil
}
