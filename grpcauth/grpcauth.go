package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/jwtgate/jwtgate/internal/capture"
	"github.com/jwtgate/jwtgate/middleware"
)

// Config configures the interceptors. Only Verifier is required; New copies
// the Config, so changing it afterwards has no effect.
type Config struct {
	// Verifier checks every call that Skip does not exempt. Required.
	Verifier *middleware.Verifier
	// Methods holds per-method requirements (scopes, rate limit), keyed by
	// full method name ("/pkg.Service/Method") or, ending in "/", by service
	// ("/pkg.Service/"); an exact name wins over its service. Each route is
	// added to Verifier's own requirements, not to Default's. Nil: every
	// method uses Default.
	Methods map[string]middleware.Route
	// Default is the route for methods Methods does not name. The zero
	// value adds nothing: any valid token is enough.
	Default middleware.Route
	// Skip exempts a call from verification when it returns true (health
	// checks, reflection); its handler then runs without claims. It gets
	// the full method name and must be safe for concurrent use. Nil: no
	// call is exempt.
	Skip func(fullMethod string) bool
}

// Interceptors verifies the token of each call before its handler runs.
// Create it with New; it is safe for concurrent use and starts no
// goroutines.
type Interceptors struct {
	exact    map[string]*middleware.Verifier
	services map[string]*middleware.Verifier
	def      *middleware.Verifier
	skip     func(string) bool
}

// New checks cfg and derives one Verifier per route, once, so that a call
// only looks its route up. A bad Config is an error, never a panic.
func New(cfg Config) (*Interceptors, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("grpcauth: Config.Verifier is nil")
	}
	ic := &Interceptors{
		exact:    make(map[string]*middleware.Verifier),
		services: make(map[string]*middleware.Verifier),
		def:      cfg.Verifier.With(cfg.Default),
		skip:     cfg.Skip,
	}
	for name, rt := range cfg.Methods {
		switch kind(name) {
		case "method":
			ic.exact[name] = cfg.Verifier.With(rt)
		case "service":
			ic.services[name] = cfg.Verifier.With(rt)
		default:
			return nil, fmt.Errorf("grpcauth: Methods key %q is neither a full method name (/pkg.Service/Method) nor a service (/pkg.Service/)", name)
		}
	}
	return ic, nil
}

// kind tells a full method name from a service prefix, "" for neither: a
// key that can never match would silently leave its method on Default.
func kind(name string) string {
	if !strings.HasPrefix(name, "/") {
		return ""
	}
	svc, method, ok := strings.Cut(name[1:], "/")
	switch {
	case !ok || svc == "" || strings.Contains(method, "/"):
		return ""
	case method == "":
		return "service"
	}
	return "method"
}

// verifier returns the Verifier for fullMethod: its own, its service's, or
// the default.
func (ic *Interceptors) verifier(fullMethod string) *middleware.Verifier {
	if v, ok := ic.exact[fullMethod]; ok {
		return v
	}
	if i := strings.LastIndexByte(fullMethod, '/'); i > 0 {
		if v, ok := ic.services[fullMethod[:i+1]]; ok {
			return v
		}
	}
	return ic.def
}

// UnaryServerInterceptor verifies the call's token and runs handler with
// the claims in its context (middleware.ClaimsFromContext). A rejected call
// ends with the status Code gives and the challenge in its trailers; the
// handler does not run.
func (ic *Interceptors) UnaryServerInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if ic.skip != nil && ic.skip(info.FullMethod) {
		return handler(ctx, req)
	}
	ctx, hdr, trl, err := ic.authenticate(ctx, info.FullMethod)
	if err != nil {
		// SetTrailer fails only without a server stream in ctx, which an
		// interceptor always has; the status still reaches the client.
		_ = grpc.SetTrailer(ctx, trl)
		return nil, err
	}
	if hdr != nil {
		// Sent with the handler's first response; before it, nothing can
		// have sent headers yet.
		_ = grpc.SetHeader(ctx, hdr)
	}
	return handler(ctx, req)
}

// StreamServerInterceptor is UnaryServerInterceptor for streams: the
// handler's stream carries the claims in its Context.
func (ic *Interceptors) StreamServerInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if ic.skip != nil && ic.skip(info.FullMethod) {
		return handler(srv, ss)
	}
	ctx, hdr, trl, err := ic.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		ss.SetTrailer(trl)
		return err
	}
	if hdr != nil {
		_ = ss.SetHeader(hdr) // as in UnaryServerInterceptor
	}
	return handler(srv, &stream{ServerStream: ss, ctx: ctx})
}

// ServerOptions returns both interceptors as chained server options, for
// grpc.NewServer(ic.ServerOptions()...).
func (ic *Interceptors) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(ic.UnaryServerInterceptor),
		grpc.ChainStreamInterceptor(ic.StreamServerInterceptor),
	}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// authenticate runs the route's Verifier on a request built from the call,
// so that extraction, scopes and the rate limit behave exactly as over
// HTTP. It returns the context for the handler and the response headers
// (RateLimit-*), or the status error and its trailers.
func (ic *Interceptors) authenticate(ctx context.Context, fullMethod string) (context.Context, metadata.MD, metadata.MD, error) {
	v := ic.verifier(fullMethod)
	r := request(ctx, fullMethod, v.APIKeyHeader())
	var w capture.Writer
	c, err := v.Authenticate(&w, r)
	if err != nil {
		trl, st := reject(v, r, err)
		return ctx, nil, trl, st
	}
	if c != nil {
		ctx = middleware.ContextWithClaims(ctx, c)
	}
	return ctx, toMD(w.Headers()), nil, nil
}

// request is the HTTP view of a call that the Verifier reads: POST to the
// full method name (what a RateLimit Key or Cost func sees as r.URL.Path)
// with the authorization metadata as Authorization header(s), so two values
// are refused just as two headers are, and the API-key metadata (keyHeader,
// lower-cased) when the route takes API keys. Other metadata is not copied:
// a Verifier that reads tokens from a cookie or a custom header finds none.
func request(ctx context.Context, fullMethod, keyHeader string) *http.Request {
	r := &http.Request{
		Method:     http.MethodPost,
		URL:        &url.URL{Path: fullMethod},
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     make(http.Header, 1),
		Body:       http.NoBody,
		RequestURI: fullMethod,
	}
	// Just the one key: FromIncomingContext would copy all the metadata.
	if vals := metadata.ValueFromIncomingContext(ctx, "authorization"); len(vals) > 0 {
		r.Header["Authorization"] = vals
	}
	if keyHeader != "" {
		if vals := metadata.ValueFromIncomingContext(ctx, strings.ToLower(keyHeader)); len(vals) > 0 {
			r.Header[http.CanonicalHeaderKey(keyHeader)] = vals
		}
	}
	return r.WithContext(ctx)
}

// forwarded are the parts of the Verifier's HTTP answer that mean
// something to a gRPC client (the body and content headers do not): the
// canonical header name the Verifier sets, and the metadata key.
var forwarded = [...]struct{ header, key string }{
	{"Www-Authenticate", "www-authenticate"},
	{"Retry-After", "retry-after"},
	{"Ratelimit-Limit", "ratelimit-limit"},
	{"Ratelimit-Remaining", "ratelimit-remaining"},
	{"Ratelimit-Reset", "ratelimit-reset"},
}

func toMD(h http.Header) metadata.MD {
	var md metadata.MD
	for _, f := range forwarded {
		if vals := h[f.header]; len(vals) > 0 {
			if md == nil {
				md = make(metadata.MD, len(forwarded))
			}
			md[f.key] = vals
		}
	}
	return md
}
