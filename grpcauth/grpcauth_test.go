package grpcauth_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jwtgate/jwtgate/grpcauth"
	"github.com/jwtgate/jwtgate/internal/authtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// whoService is a hand-written service (no protoc here): Am answers the
// subject the handler found in its context, Admin the same behind a scope,
// Stream sends the subject twice.
type whoService struct{}

func subject(ctx context.Context) string {
	c, ok := middleware.ClaimsFromContext(ctx)
	if !ok {
		return "anonymous"
	}
	return c.Subject
}

func unaryWho(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor, method string) (any, error) {
	in := new(emptypb.Empty)
	if err := dec(in); err != nil {
		return nil, err
	}
	h := func(ctx context.Context, _ any) (any, error) { return wrapperspb.String(subject(ctx)), nil }
	if icpt == nil {
		return h(ctx, in)
	}
	return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: method}, h)
}

var whoDesc = grpc.ServiceDesc{
	ServiceName: "test.Who",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Am", Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			return unaryWho(srv, ctx, dec, icpt, "/test.Who/Am")
		}},
		{MethodName: "Admin", Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			return unaryWho(srv, ctx, dec, icpt, "/test.Who/Admin")
		}},
		{MethodName: "Limited", Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			return unaryWho(srv, ctx, dec, icpt, "/test.Who/Limited")
		}},
	},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			if err := ss.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			for range 2 {
				if err := ss.SendMsg(wrapperspb.String(subject(ss.Context()))); err != nil {
					return err
				}
			}
			return nil
		},
	}},
}

type fixture struct {
	idp  *jwtgatetest.Issuer
	conn *grpc.ClientConn
}

// serve starts a real gRPC server on a loopback TCP port with ic in front of
// the Who and health services, and a client connected to it; both stop at
// the end of the test.
func serve(t testing.TB, ic *grpcauth.Interceptors) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ic.ServerOptions()...)
	srv.RegisterService(&whoDesc, whoService{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis) // returns nil after Stop
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	})
	return conn
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	idp := authtest.NewIssuer(t)
	v := authtest.NewVerifier(t, idp, middleware.Config{})
	ic, err := grpcauth.New(grpcauth.Config{
		Verifier: v,
		Methods: map[string]middleware.Route{
			"/test.Who/Admin":   {Scopes: []string{"admin"}},
			"/test.Who/Limited": {RateLimit: &middleware.RateLimit{Limiter: authtest.Deny()}},
		},
		Default: middleware.Route{RateLimit: &middleware.RateLimit{Limiter: authtest.Allow10()}},
		Skip:    func(m string) bool { return strings.HasPrefix(m, "/grpc.health.v1.Health/") },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{idp: idp, conn: serve(t, ic)}
}

func (f *fixture) token(t testing.TB, extra map[string]any) string {
	t.Helper()
	return f.idp.Mint(t, authtest.Claims(extra))
}

func withAuth(ctx context.Context, values ...string) context.Context {
	for _, v := range values {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", v)
	}
	return ctx
}

type result struct {
	code    codes.Code
	msg     string
	out     string
	header  metadata.MD
	trailer metadata.MD
}

func call(t testing.TB, conn *grpc.ClientConn, method string, auth ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(withAuth(context.Background(), auth...), 10*time.Second)
	defer cancel()
	var (
		out          wrapperspb.StringValue
		header, trlr metadata.MD
	)
	err := conn.Invoke(ctx, method, &emptypb.Empty{}, &out, grpc.Header(&header), grpc.Trailer(&trlr))
	st := status.Convert(err)
	return result{code: st.Code(), msg: st.Message(), out: out.GetValue(), header: header, trailer: trlr}
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// TestUnary follows the README's status table row by row: each rejection
// class arrives with its code, its challenge and its Retry-After in the
// trailers, and the message is the fixed description.
func TestUnary(t *testing.T) {
	f := newFixture(t)
	valid := f.token(t, nil)
	admin := f.token(t, map[string]any{"scope": "read admin", "sub": "root"})
	expired := f.token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	otherAud := f.token(t, map[string]any{"aud": "someone-else"})
	// Another issuer's key signs a token naming this issuer and its kid.
	kid, err := f.idp.KID("")
	if err != nil {
		t.Fatal(err)
	}
	other := authtest.Claims(nil)
	other.Issuer = f.idp.Issuer()
	forged := authtest.NewIssuer(t).MintWith(t, other, jwtgatetest.MintOptions{KID: kid})
	for _, tc := range []struct {
		name, method string
		auth         []string
		code         codes.Code
		msg, www     string
		retryAfter   string
		out          string
	}{
		{name: "valid token: handler sees claims", method: "/test.Who/Am", auth: []string{"Bearer " + valid}, code: codes.OK, out: "user-1"},
		{name: "scheme is case-insensitive", method: "/test.Who/Am", auth: []string{"bearer " + valid}, code: codes.OK, out: "user-1"},
		{name: "no token: 401 without error code", method: "/test.Who/Am", code: codes.Unauthenticated,
			msg: "authentication required", www: `Bearer realm="jwtgate"`},
		{name: "another scheme counts as no token", method: "/test.Who/Am", auth: []string{"Basic dXNlcjpwdw=="}, code: codes.Unauthenticated,
			msg: "authentication required", www: `Bearer realm="jwtgate"`},
		{name: "expired", method: "/test.Who/Am", auth: []string{"Bearer " + expired}, code: codes.Unauthenticated,
			msg: "token expired", www: `Bearer realm="jwtgate", error="invalid_token", error_description="token expired"`},
		{name: "bad signature", method: "/test.Who/Am", auth: []string{"Bearer " + forged}, code: codes.Unauthenticated,
			msg: "signature invalid", www: `Bearer realm="jwtgate", error="invalid_token", error_description="signature invalid"`},
		{name: "wrong audience", method: "/test.Who/Am", auth: []string{"Bearer " + otherAud}, code: codes.Unauthenticated,
			msg: "audience not accepted", www: `Bearer realm="jwtgate", error="invalid_token", error_description="audience not accepted"`},
		{name: "malformed", method: "/test.Who/Am", auth: []string{"Bearer not.a.jwt"}, code: codes.Unauthenticated,
			www: `Bearer realm="jwtgate", error="invalid_token", error_description="token is not canonical base64url"`, msg: "token is not canonical base64url"},
		{name: "two authorization values: invalid request", method: "/test.Who/Am", auth: []string{"Bearer " + valid, "Bearer " + admin}, code: codes.InvalidArgument,
			msg: "more than one token in the request", www: `Bearer realm="jwtgate", error="invalid_request", error_description="more than one token in the request"`},
		{name: "method scope missing", method: "/test.Who/Admin", auth: []string{"Bearer " + valid}, code: codes.PermissionDenied,
			msg: "insufficient scope", www: `Bearer realm="jwtgate", error="insufficient_scope", error_description="insufficient scope", scope="admin"`},
		{name: "method scope present", method: "/test.Who/Admin", auth: []string{"Bearer " + admin}, code: codes.OK, out: "root"},
		{name: "rate limited", method: "/test.Who/Limited", auth: []string{"Bearer " + valid}, code: codes.ResourceExhausted,
			msg: "rate limit exceeded", retryAfter: "2"},
		{name: "skipped method needs no token", method: "/grpc.health.v1.Health/Check", code: codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r result
			if tc.method == "/grpc.health.v1.Health/Check" {
				r = callHealth(t, f.conn, tc.auth...)
			} else {
				r = call(t, f.conn, tc.method, tc.auth...)
			}
			if r.code != tc.code || r.msg != tc.msg || r.out != tc.out {
				t.Fatalf("got %v %q out %q, want %v %q out %q", r.code, r.msg, r.out, tc.code, tc.msg, tc.out)
			}
			if got := first(r.trailer, "www-authenticate"); got != tc.www {
				t.Errorf("www-authenticate = %q, want %q", got, tc.www)
			}
			if got := first(r.trailer, "retry-after"); got != tc.retryAfter {
				t.Errorf("retry-after = %q, want %q", got, tc.retryAfter)
			}
			for _, a := range tc.auth {
				if tok := strings.TrimPrefix(strings.TrimPrefix(a, "Bearer "), "bearer "); strings.Contains(r.msg, tok) {
					t.Errorf("status message echoes the token")
				}
			}
		})
	}
}

func callHealth(t testing.TB, conn *grpc.ClientConn, auth ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(withAuth(context.Background(), auth...), 10*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	st := status.Convert(err)
	return result{code: st.Code(), msg: st.Message()}
}

func TestRateLimitHeaders(t *testing.T) {
	f := newFixture(t)
	ok := call(t, f.conn, "/test.Who/Am", "Bearer "+f.token(t, nil))
	if ok.code != codes.OK {
		t.Fatal(ok.code, ok.msg)
	}
	for k, want := range map[string]string{"ratelimit-limit": "10", "ratelimit-remaining": "9", "ratelimit-reset": "1"} {
		if got := first(ok.header, k); got != want {
			t.Errorf("allowed call: header %s = %q, want %q", k, got, want)
		}
	}
	lim := call(t, f.conn, "/test.Who/Limited", "Bearer "+f.token(t, nil))
	for k, want := range map[string]string{"retry-after": "2", "ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": "2"} {
		if got := first(lim.trailer, k); got != want {
			t.Errorf("limited call: trailer %s = %q, want %q", k, got, want)
		}
	}
}

func TestKeysUnavailable(t *testing.T) {
	idp := authtest.NewIssuer(t)
	tok := idp.Mint(t, authtest.Claims(nil))
	ic, err := grpcauth.New(grpcauth.Config{Verifier: authtest.NewVerifier(t, idp, middleware.Config{Keys: authtest.UnavailableKeys(t, idp)})})
	if err != nil {
		t.Fatal(err)
	}
	r := call(t, serve(t, ic), "/test.Who/Am", "Bearer "+tok)
	if r.code != codes.Unavailable || r.msg != "keys unavailable" {
		t.Fatalf("got %v %q, want Unavailable (never Unauthenticated: the client did nothing wrong)", r.code, r.msg)
	}
	if got := first(r.trailer, "retry-after"); got != "5" {
		t.Errorf("retry-after = %q, want the Verifier's 5", got)
	}
	if got := first(r.trailer, "www-authenticate"); got != "" {
		t.Errorf("a 503 carries no challenge, got %q", got)
	}
}

func TestStream(t *testing.T) {
	f := newFixture(t)
	open := func(auth ...string) ([]string, error, metadata.MD) {
		ctx, cancel := context.WithTimeout(withAuth(context.Background(), auth...), 10*time.Second)
		defer cancel()
		cs, err := f.conn.NewStream(ctx, &whoDesc.Streams[0], "/test.Who/Stream")
		if err != nil {
			return nil, err, nil
		}
		if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
			return nil, err, nil
		}
		if err := cs.CloseSend(); err != nil {
			return nil, err, nil
		}
		var got []string
		for {
			var out wrapperspb.StringValue
			if err := cs.RecvMsg(&out); err != nil {
				if err == io.EOF {
					err = nil
				}
				return got, err, cs.Trailer()
			}
			got = append(got, out.GetValue())
		}
	}
	got, err, _ := open("Bearer " + f.token(t, map[string]any{"sub": "streamer"}))
	if err != nil || strings.Join(got, ",") != "streamer,streamer" {
		t.Fatalf("valid token: %v %v", got, err)
	}
	got, err, trl := open()
	if status.Code(err) != codes.Unauthenticated || len(got) != 0 {
		t.Fatalf("no token: %v %v", got, err)
	}
	if www := first(trl, "www-authenticate"); www != `Bearer realm="jwtgate"` {
		t.Errorf("www-authenticate = %q", www)
	}
	_, err, _ = open("Bearer a", "Bearer b")
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("two values: %v, want InvalidArgument", err)
	}
}

// TestHealthWatch checks the stream interceptor on a real service's
// streaming method (grpc.health.v1.Health/Watch), not skipped this time.
func TestHealthWatch(t *testing.T) {
	idp := authtest.NewIssuer(t)
	ic, err := grpcauth.New(grpcauth.Config{
		Verifier: authtest.NewVerifier(t, idp, middleware.Config{}),
		Methods:  map[string]middleware.Route{"/grpc.health.v1.Health/": {Scopes: []string{"ops"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := serve(t, ic)
	watch := func(tok string) (*healthpb.HealthCheckResponse, error) {
		ctx, cancel := context.WithTimeout(withAuth(context.Background(), "Bearer "+tok), 10*time.Second)
		defer cancel()
		w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return nil, err
		}
		return w.Recv()
	}
	sign := func(scope string) string { return idp.Mint(t, authtest.Claims(map[string]any{"scope": scope})) }
	if _, err := watch(sign("read")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("without the service's scope: %v, want PermissionDenied", err)
	}
	resp, err := watch(sign("ops"))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("with the scope: %v %v", resp, err)
	}
}

func TestOptionalAnonymous(t *testing.T) {
	ic, err := grpcauth.New(grpcauth.Config{
		Verifier: authtest.NewVerifier(t, authtest.NewIssuer(t), middleware.Config{Optional: true}),
		Methods:  map[string]middleware.Route{"/test.Who/Admin": {Scopes: []string{"admin"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := serve(t, ic)
	if r := call(t, conn, "/test.Who/Am"); r.code != codes.OK || r.out != "anonymous" {
		t.Errorf("optional, no token: %v %q", r.code, r.out)
	}
	// A method with scopes needs a token whatever Optional says.
	if r := call(t, conn, "/test.Who/Admin"); r.code != codes.Unauthenticated {
		t.Errorf("optional, scoped method, no token: %v", r.code)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	v := authtest.NewVerifier(t, authtest.NewIssuer(t), middleware.Config{})
	for name, cfg := range map[string]grpcauth.Config{
		"no verifier":      {},
		"no leading slash": {Verifier: v, Methods: map[string]middleware.Route{"test.Who/Am": {}}},
		"no method part":   {Verifier: v, Methods: map[string]middleware.Route{"/test.Who": {}}},
		"empty service":    {Verifier: v, Methods: map[string]middleware.Route{"//Am": {}}},
		"three parts":      {Verifier: v, Methods: map[string]middleware.Route{"/a/b/c": {}}},
	} {
		if ic, err := grpcauth.New(cfg); err == nil || ic != nil || !strings.HasPrefix(err.Error(), "grpcauth: ") {
			t.Errorf("%s: got %v, %v; want a grpcauth error", name, ic, err)
		}
	}
}

func TestCode(t *testing.T) {
	for err, want := range map[error]codes.Code{
		nil:                              codes.OK,
		middleware.ErrTokenMissing:       codes.Unauthenticated,
		middleware.ErrTokenExpired:       codes.Unauthenticated,
		middleware.ErrInvalidRequest:     codes.InvalidArgument,
		middleware.ErrInsufficientScope:  codes.PermissionDenied,
		middleware.ErrRateLimited:        codes.ResourceExhausted,
		middleware.ErrKeysUnavailable:    codes.Unavailable,
		middleware.ErrLimiterUnavailable: codes.Unavailable,
		io.ErrUnexpectedEOF:              codes.Internal,
	} {
		if got := grpcauth.Code(err); got != want {
			t.Errorf("Code(%v) = %v, want %v", err, got, want)
		}
	}
}
