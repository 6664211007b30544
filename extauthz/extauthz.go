package extauthz

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/internal/capture"
	"github.com/jwtgate/jwtgate/internal/headername"
	"github.com/jwtgate/jwtgate/internal/routepath"
	"github.com/jwtgate/jwtgate/middleware"
)

// Config configures a Server. Only Verifier is required; New copies the
// Config, so changing it afterwards has no effect.
type Config struct {
	// Verifier decides every request. Required.
	Verifier *middleware.Verifier
	// Routes holds per-path requirements keyed by path prefix; the longest
	// prefix that covers the request's clean path wins. "/admin" covers
	// "/admin" and "/admin/…" but not "/administrator"; "/" covers
	// everything. Each route is added to Verifier's own requirements. Nil,
	// or a path no prefix covers: the Verifier's requirements alone.
	Routes map[string]middleware.Route
	// ClaimHeaders forwards claims to the upstream as request headers:
	// claim name → header name. Every configured header is in each allowed
	// answer, with the claim's text (as Claims.String renders it) or empty
	// when the token lacks the claim; one without a value is also in
	// headers_to_remove, so a client's own copy never reaches the upstream.
	// Nil: no claim is forwarded.
	ClaimHeaders map[string]string
	// StripAuthorization also removes the Authorization header from allowed
	// requests, so the upstream never sees the token. False: it is passed
	// on.
	StripAuthorization bool
}

// Server is the envoy.service.auth.v3.Authorization service. Create it with
// New and Register it on a grpc.Server of your own, on its own listener
// (Envoy's ext_authz grpc_service points at it). It is safe for concurrent
// use and starts no goroutines.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	base    *middleware.Verifier
	routes  []route // longest prefix first
	claims  []claimHeader
	removes []string // headers_to_remove besides the claim headers
}

type claimHeader struct {
	claim, header string // header in lower case, as Envoy keys them
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// New checks cfg and derives one Verifier per route, once. A bad Config is
// an error, never a panic.
func New(cfg Config) (*Server, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("extauthz: Config.Verifier is nil")
	}
	s := &Server{base: cfg.Verifier}
	for prefix, rt := range cfg.Routes {
		if err := routepath.CheckPrefix(prefix); err != nil {
			return nil, fmt.Errorf("extauthz: Routes key %q %w", prefix, err)
		}
		s.routes = append(s.routes, route{prefix: prefix, v: cfg.Verifier.With(rt)})
	}
	slices.SortFunc(s.routes, func(a, b route) int { return cmp.Compare(len(b.prefix), len(a.prefix)) })
	for claim, header := range cfg.ClaimHeaders {
		h := strings.ToLower(header)
		switch {
		case claim == "" || !headername.ValidName(h):
			return nil, fmt.Errorf("extauthz: ClaimHeaders: bad mapping %q → %q", claim, header)
		case h == "authorization" || h == "host" || h == "cookie":
			return nil, fmt.Errorf("extauthz: ClaimHeaders: %q is not a header a claim may overwrite", header)
		}
		for _, ch := range s.claims {
			if headername.Same(ch.header, h) {
				return nil, fmt.Errorf("extauthz: ClaimHeaders: %q and %q name the same header", ch.header, header)
			}
		}
		s.claims = append(s.claims, claimHeader{claim: claim, header: h})
	}
	// Sorted so that answers are byte-for-byte the same for the same token.
	slices.SortFunc(s.claims, func(a, b claimHeader) int { return cmp.Compare(a.header, b.header) })
	if cfg.StripAuthorization {
		s.removes = append(s.removes, "authorization")
	}
	return s, nil
}

// Register registers s as the Authorization service on r.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	authv3.RegisterAuthorizationServer(r, s)
}

// verifier returns the Verifier for a clean path.
func (s *Server) verifier(p string) *middleware.Verifier {
	for _, rt := range s.routes {
		if routepath.Match(rt.prefix, p) {
			return rt.v
		}
	}
	return s.base
}

// Check decides one request. It always answers with a CheckResponse and a
// nil error: a failed RPC is an "error" to Envoy, which failure_mode_allow
// turns into an allow, so unavailable keys are a 503 denial instead. The
// request body Envoy may have buffered (with_request_body) is read only on
// an MCP route with tool rules or a policy (middleware.Resource.Tools); a
// POST there without it is refused.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, v, err := s.request(ctx, req.GetAttributes().GetRequest().GetHttp())
	if err == nil {
		var (
			w capture.Writer
			c *middleware.Claims
		)
		if c, err = v.Authenticate(&w, r); err == nil {
			return s.allow(r, v, c, w.Headers()), nil
		}
	}
	return deny(v, r, err), nil
}

// request is the HTTP request Envoy saw, as the Verifier reads it, and the
// Verifier of its route. On error r and v are still usable for the answer.
func (s *Server) request(ctx context.Context, h *authv3.AttributeContext_HttpRequest) (*http.Request, *middleware.Verifier, error) {
	r := &http.Request{
		Method:     cmp.Or(h.GetMethod(), http.MethodGet),
		URL:        &url.URL{Path: "/"},
		Proto:      cmp.Or(h.GetProtocol(), "HTTP/1.1"),
		Header:     headers(h),
		Body:       http.NoBody,
		Host:       h.GetHost(),
		RequestURI: h.GetPath(),
	}
	r.ProtoMajor, r.ProtoMinor, _ = http.ParseHTTPVersion(r.Proto)
	// The body Envoy buffered (with_request_body), for an MCP route's tool
	// rules; a truncated one (allow_partial_message) does not parse and
	// is refused there.
	body := h.GetRawBody()
	if len(body) == 0 && h.GetBody() != "" {
		body = []byte(h.GetBody())
	}
	if len(body) > 0 {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	r = r.WithContext(ctx)
	if h == nil {
		return r, s.base, errPath
	}
	p, query := routepath.SplitTarget(h.GetPath())
	clean, v, err := routepath.Pick(p, s.verifier)
	switch {
	case errors.Is(err, routepath.ErrMalformed):
		return r, s.base, errPath
	case err != nil:
		return r, v, errAmbiguousPath
	}
	r.URL.Path, r.URL.RawQuery = clean, query
	// The request as Envoy saw it, for DPoP's htm and htu: Envoy knows
	// its scheme, authority, method and path better than any header in
	// it, and the http.Request above has no TLS state or peer to say so.
	// A CheckRequest without a scheme (none from Envoy) is read as http;
	// a fragment, which no client should send, goes, as for routing.
	target := p
	if query != "" {
		target += "?" + query
	}
	view, err := forwarded.Describe(cmp.Or(h.GetScheme(), "http"), h.GetHost(), r.Method, cmp.Or(target, "/"))
	if err != nil {
		return r, v, fmt.Errorf("%w: %w", errRequest, err)
	}
	return r.WithContext(forwarded.NewContext(ctx, view)), v, nil
}

// headers converts Envoy's headers: the map (lower-case names, repeated
// headers joined with ",") or, with encode_raw_headers, the list. Pseudo
// headers (":path", ":authority", …) are Envoy's view, not the client's
// headers.
func headers(h *authv3.AttributeContext_HttpRequest) http.Header {
	if raw := h.GetHeaderMap().GetHeaders(); len(raw) > 0 {
		out := make(http.Header, len(raw))
		for _, hv := range raw {
			if k := hv.GetKey(); k != "" && k[0] != ':' {
				val := hv.GetValue()
				if val == "" {
					val = string(hv.GetRawValue())
				}
				out.Add(k, val)
			}
		}
		return out
	}
	m := h.GetHeaders()
	out := make(http.Header, len(m))
	for k, val := range m {
		if k != "" && k[0] != ':' {
			out.Add(k, val)
		}
	}
	return out
}

// allow answers an accepted request: the claim headers set, the ones
// without a value, any client header an upstream could read as a claim
// header and an API key removed, and the Verifier's response headers
// (RateLimit-*) added.
//
// A claim header with a value is not in headers_to_remove: Envoy applies
// the removals after the headers it sets, and would drop it.
func (s *Server) allow(r *http.Request, v *middleware.Verifier, c *middleware.Claims, resp http.Header) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{
		Headers:              make([]*corev3.HeaderValueOption, 0, len(s.claims)),
		ResponseHeadersToAdd: toOptions(resp),
	}
	remove := slices.Clone(s.removes)
	for _, ch := range s.claims {
		val, found := "", false
		if c != nil {
			val, found = c.String(ch.claim)
			found = found && headername.ValidValue(val)
		}
		if !found {
			val = ""
			remove = append(remove, ch.header)
		}
		ok.Headers = append(ok.Headers, option(ch.header, val, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
	}
	// "X_User" reaches a CGI, WSGI or PHP upstream as HTTP_X_USER, the same
	// as "X-User": the client's copy under the other spelling goes too.
	for sent := range r.Header {
		l := strings.ToLower(sent)
		for _, ch := range s.claims {
			if l != ch.header && headername.Same(l, ch.header) && !slices.Contains(remove, l) {
				remove = append(remove, l)
			}
		}
	}
	// An API key is the gateway's credential, never the upstream's (nor
	// its logs'): the key header goes whatever it held, Authorization when
	// the key came in it.
	if h := v.APIKeyHeader(); h != "" {
		remove = append(remove, strings.ToLower(h))
	}
	if c != nil && c.Kind() == middleware.CredentialAPIKey && !slices.Contains(remove, "authorization") {
		remove = append(remove, "authorization")
	}
	slices.Sort(remove[len(s.removes):])
	ok.HeadersToRemove = remove
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

// deny answers a rejected request with exactly what v.WriteError writes
// over HTTP (status, WWW-Authenticate, Retry-After, RateLimit-*, the small
// JSON body): one error mapping, and a Config.ErrorHandler runs here too.
func deny(v *middleware.Verifier, r *http.Request, err error) *authv3.CheckResponse {
	var w capture.Writer
	v.WriteError(&w, r, err)
	st := cmp.Or(w.Status, middleware.Status(err))
	code := codes.PermissionDenied
	switch {
	case st == http.StatusServiceUnavailable:
		code = codes.Unavailable
	case st >= 500:
		code = codes.Internal
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code), Message: description(err, st)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(st)},
			Headers: toOptions(w.Headers()),
			Body:    string(w.Body),
		}},
	}
}

// description is the status message: the error's fixed, client-safe text,
// never the error's own text or the token.
func description(err error, st int) string {
	if e, ok := errors.AsType[*middleware.Error](err); ok && e.Description() != "" && headername.ValidValue(e.Description()) {
		return e.Description()
	}
	switch st {
	case http.StatusBadRequest:
		return "invalid request"
	case http.StatusUnauthorized:
		return "authentication required"
	case http.StatusForbidden:
		return "insufficient scope"
	case http.StatusTooManyRequests:
		return "rate limit exceeded"
	case http.StatusServiceUnavailable:
		return "temporarily unavailable"
	}
	return "internal error"
}

// toOptions turns headers into Envoy header options, sorted by name so an
// answer does not depend on map order; a name's first value overwrites,
// any further value is appended.
func toOptions(h http.Header) []*corev3.HeaderValueOption {
	if len(h) == 0 {
		return nil
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]*corev3.HeaderValueOption, 0, len(h))
	for _, k := range names {
		action := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		for _, val := range h[k] {
			out = append(out, option(strings.ToLower(k), val, action))
			action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		}
	}
	return out
}

func option(key, val string, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, Value: val}, AppendAction: action}
}
