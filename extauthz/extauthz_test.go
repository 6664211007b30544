package extauthz_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/extauthz"
	"github.com/jwtgate/jwtgate/internal/authtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serve runs s on a real gRPC server on a loopback TCP port, as Envoy would
// reach it, and returns a client; both stop at the end of the test.
func serve(t testing.TB, s *extauthz.Server) authv3.AuthorizationClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	s.Register(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis) // nil after Stop
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
	return authv3.NewAuthorizationClient(conn)
}

// checkRequest is what Envoy sends for a request to path with headers
// (names lower case, as Envoy sends them).
func checkRequest(method, path string, headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{":authority": "api.test", ":path": path, ":method": method}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Host: "api.test", Path: path, Scheme: "https", Protocol: "HTTP/1.1", Headers: h,
			Body: "access_token=not-read", Size: 21,
		},
	}}}
}

func check(t testing.TB, c authv3.AuthorizationClient, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v (it must always answer with a CheckResponse)", err)
	}
	return resp
}

type fixture struct {
	idp    *jwtgatetest.Issuer
	v      *middleware.Verifier
	routes map[string]middleware.Route
	client authv3.AuthorizationClient
}

func newFixture(t testing.TB, cfg extauthz.Config) *fixture {
	t.Helper()
	idp := authtest.NewIssuer(t)
	f := &fixture{idp: idp, v: authtest.NewVerifier(t, idp, middleware.Config{}), routes: map[string]middleware.Route{
		"/admin":   {Scopes: []string{"admin"}},
		"/limited": {RateLimit: &middleware.RateLimit{Limiter: authtest.Deny()}},
		"/":        {RateLimit: &middleware.RateLimit{Limiter: authtest.Allow10()}},
	}}
	cfg.Verifier = f.v
	cfg.Routes = f.routes
	if cfg.ClaimHeaders == nil {
		cfg.ClaimHeaders = map[string]string{"sub": "X-User", "email": "x-email", "scope": "x-scope"}
	}
	s, err := extauthz.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.client = serve(t, s)
	return f
}

func (f *fixture) token(t testing.TB, extra map[string]any) string {
	t.Helper()
	return f.idp.Mint(t, authtest.Claims(extra))
}

func headerMap(opts []*corev3.HeaderValueOption) map[string]string {
	m := make(map[string]string, len(opts))
	for _, o := range opts {
		m[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	return m
}

func TestAllowed(t *testing.T) {
	f := newFixture(t, extauthz.Config{})
	resp := check(t, f.client, checkRequest("GET", "/items?page=2", map[string]string{"authorization": "Bearer " + f.token(t, nil)}))
	ok := resp.GetOkResponse()
	if resp.GetStatus().GetCode() != int32(codes.OK) || ok == nil {
		t.Fatalf("not allowed: %v", resp)
	}
	if got, want := headerMap(ok.GetHeaders()), map[string]string{"x-user": "user-1", "x-email": "", "x-scope": "read"}; !equalMaps(got, want) {
		t.Errorf("claim headers %v, want %v", got, want)
	}
	for _, o := range ok.GetHeaders() {
		if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("%s: %v, want OVERWRITE_IF_EXISTS_OR_ADD", o.GetHeader().GetKey(), o.GetAppendAction())
		}
	}
	// The claim the token lacks goes; the ones with a value must not be
	// listed, since Envoy removes after it sets.
	if got := ok.GetHeadersToRemove(); !slices.Equal(got, []string{"x-email"}) {
		t.Errorf("headers_to_remove %v, want [x-email]", got)
	}
	if got, want := headerMap(ok.GetResponseHeadersToAdd()), map[string]string{"ratelimit-limit": "10", "ratelimit-remaining": "9", "ratelimit-reset": "1"}; !equalMaps(got, want) {
		t.Errorf("response headers %v, want %v", got, want)
	}
}

// TestForgedClaimHeaders: whatever the client sent under a claim header's
// name, in any spelling an upstream could read as that header, is either
// overwritten with the verified value or removed.
func TestForgedClaimHeaders(t *testing.T) {
	f := newFixture(t, extauthz.Config{StripAuthorization: true})
	resp := check(t, f.client, checkRequest("GET", "/items", map[string]string{
		"authorization": "Bearer " + f.token(t, nil),
		"x-user":        "root",
		"x_user":        "root",
		"x-email":       "root@example.com",
		"x_email":       "root@example.com",
		"x-other":       "kept",
	}))
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("not allowed: %v", resp)
	}
	if got := headerMap(ok.GetHeaders()); got["x-user"] != "user-1" || got["x-email"] != "" {
		t.Errorf("claim headers %v", got)
	}
	if got, want := ok.GetHeadersToRemove(), []string{"authorization", "x-email", "x_email", "x_user"}; !slices.Equal(got, want) {
		t.Errorf("headers_to_remove %v, want %v", got, want)
	}
}

func TestOptionalAnonymous(t *testing.T) {
	s, err := extauthz.New(extauthz.Config{
		Verifier:     authtest.NewVerifier(t, authtest.NewIssuer(t), middleware.Config{Optional: true}),
		ClaimHeaders: map[string]string{"sub": "x-user"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := check(t, serve(t, s), checkRequest("GET", "/", map[string]string{"x-user": "root"}))
	ok := resp.GetOkResponse()
	if ok == nil || headerMap(ok.GetHeaders())["x-user"] != "" || !slices.Equal(ok.GetHeadersToRemove(), []string{"x-user"}) {
		t.Fatalf("anonymous request must not pass a client's claim header on: %v", resp)
	}
}

// TestDenied follows the README's status table: every rejection is the
// same status, headers and body the middleware writes over HTTP for the
// same request (compared with the Verifier's own Handler), with a non-OK
// gRPC status.
func TestDenied(t *testing.T) {
	f := newFixture(t, extauthz.Config{})
	valid := f.token(t, nil)
	expired := f.token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	// Another issuer's key signs a token naming this issuer and its kid.
	kid, err := f.idp.KID("")
	if err != nil {
		t.Fatal(err)
	}
	other := authtest.Claims(nil)
	other.Issuer = f.idp.Issuer()
	forged := authtest.NewIssuer(t).MintWith(t, other, jwtgatetest.MintOptions{KID: kid})
	for _, tc := range []struct {
		name, path, auth string
		status           int
		www, retryAfter  string
		route            string
	}{
		{name: "no token", path: "/items", status: 401, www: `Bearer realm="jwtgate"`, route: "/"},
		{name: "expired", path: "/items", auth: "Bearer " + expired, status: 401,
			www: `Bearer realm="jwtgate", error="invalid_token", error_description="token expired"`, route: "/"},
		{name: "bad signature", path: "/items", auth: "Bearer " + forged, status: 401,
			www: `Bearer realm="jwtgate", error="invalid_token", error_description="signature invalid"`, route: "/"},
		// Envoy joins repeated headers with ",": two Authorization headers
		// arrive as one malformed value.
		{name: "two tokens, joined by Envoy", path: "/items", auth: "Bearer " + valid + ",Bearer " + valid, status: 400,
			www: `Bearer realm="jwtgate", error="invalid_request", error_description="malformed Authorization header"`, route: "/"},
		{name: "token in the query", path: "/items?access_token=" + valid, auth: "", status: 400,
			www: `Bearer realm="jwtgate", error="invalid_request", error_description="token not allowed in the query"`, route: "/"},
		{name: "scope missing", path: "/admin/users", auth: "Bearer " + valid, status: 403,
			www: `Bearer realm="jwtgate", error="insufficient_scope", error_description="insufficient scope", scope="admin"`, route: "/admin"},
		{name: "rate limited", path: "/limited", auth: "Bearer " + valid, status: 429, retryAfter: "2", route: "/limited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["authorization"] = tc.auth
			}
			resp := check(t, f.client, checkRequest("GET", tc.path, hdr))
			d := resp.GetDeniedResponse()
			if d == nil || resp.GetStatus().GetCode() != int32(codes.PermissionDenied) {
				t.Fatalf("want a PermissionDenied denial, got %v", resp)
			}
			if got := int(d.GetStatus().GetCode()); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
			got := headerMap(d.GetHeaders())
			if got["www-authenticate"] != tc.www || got["retry-after"] != tc.retryAfter {
				t.Errorf("www-authenticate %q retry-after %q, want %q %q", got["www-authenticate"], got["retry-after"], tc.www, tc.retryAfter)
			}
			// The HTTP middleware's answer to the same request.
			r := httptest.NewRequest("GET", "https://api.test"+tc.path, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			f.v.With(f.routes[tc.route]).Handler(http.NotFoundHandler()).ServeHTTP(rec, r)
			if rec.Code != tc.status || d.GetBody() != rec.Body.String() {
				t.Errorf("body %q, middleware writes %d %q", d.GetBody(), rec.Code, rec.Body.String())
			}
			if len(got) != len(rec.Header()) {
				t.Errorf("headers %v, middleware writes %v", got, rec.Header())
			}
			for k := range rec.Header() {
				if got[strings.ToLower(k)] != rec.Header().Get(k) {
					t.Errorf("%s = %q, middleware writes %q", k, got[strings.ToLower(k)], rec.Header().Get(k))
				}
			}
			if tc.auth != "" && strings.Contains(resp.GetStatus().GetMessage(), strings.TrimPrefix(tc.auth, "Bearer ")) {
				t.Error("status message echoes the token")
			}
		})
	}
}

// TestDuplicateAuthorizationRaw: with encode_raw_headers Envoy sends
// repeated headers one by one, and two tokens are the middleware's own
// "more than one token".
func TestDuplicateAuthorizationRaw(t *testing.T) {
	f := newFixture(t, extauthz.Config{})
	tok := "Bearer " + f.token(t, nil)
	req := checkRequest("GET", "/items", nil)
	h := req.Attributes.Request.Http
	h.Headers = nil
	h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":path", RawValue: []byte("/items")},
		{Key: "authorization", RawValue: []byte(tok)},
		{Key: "authorization", RawValue: []byte(tok)},
	}}
	d := check(t, f.client, req).GetDeniedResponse()
	if d.GetStatus().GetCode() != 400 || !strings.Contains(headerMap(d.GetHeaders())["www-authenticate"], "more than one token") {
		t.Fatalf("got %v", d)
	}
	h.HeaderMap.Headers = h.HeaderMap.Headers[:2]
	if ok := check(t, f.client, req).GetOkResponse(); ok == nil {
		t.Fatal("one raw authorization header: not allowed")
	}
}

func TestKeysUnavailable(t *testing.T) {
	idp := authtest.NewIssuer(t)
	tok := idp.Mint(t, authtest.Claims(nil))
	s, err := extauthz.New(extauthz.Config{Verifier: authtest.NewVerifier(t, idp, middleware.Config{Keys: authtest.UnavailableKeys(t, idp)})})
	if err != nil {
		t.Fatal(err)
	}
	resp := check(t, serve(t, s), checkRequest("GET", "/", map[string]string{"authorization": "Bearer " + tok}))
	d := resp.GetDeniedResponse()
	if resp.GetStatus().GetCode() != int32(codes.Unavailable) || d == nil || resp.GetOkResponse() != nil {
		t.Fatalf("unavailable keys must be a denial with UNAVAILABLE, got %v", resp)
	}
	if d.GetStatus().GetCode() != 503 || headerMap(d.GetHeaders())["retry-after"] != "5" || headerMap(d.GetHeaders())["www-authenticate"] != "" {
		t.Errorf("want 503 with Retry-After 5 and no challenge: %v", d)
	}
	if resp.GetErrorResponse() != nil {
		t.Error("an error_response is what failure_mode_allow lets through")
	}
}

// TestPathCleaning: the route is decided on the clean path, whatever
// spelling the client chose; a spelling that means different routes to
// different upstreams is refused.
func TestPathCleaning(t *testing.T) {
	f := newFixture(t, extauthz.Config{})
	tok := "Bearer " + f.token(t, nil) // scope "read", not "admin"
	for _, tc := range []struct {
		path   string
		status int // 0: allowed
	}{
		{"/admin", 403},
		{"/admin/", 403},
		{"/admin/users", 403},
		{"/admin?x=1", 403},
		{"/admin#frag", 403},
		{"/public/../admin", 403},
		{"/public/./../admin/", 403},
		{"/public/%2e%2e/admin", 403},
		{"/public/%2E%2E/admin", 403},
		{"//admin", 403},
		{"///admin//users", 403},
		{"/%61dmin", 403},
		{"/public/..", 200},
		{"/administrator", 200},
		{"/public/admin", 200},
		{"/admin/../public", 200},
		{"/public?next=/admin", 200},
		{"/public/%252e%252e/admin", 200}, // decoded once: "%2e%2e" is a name, not ".."
		{"/x%2F..%2Fadmin", 400},          // "/admin" if the upstream decodes %2F, "/" if not
		{"/admin%2fx", 400},
		{"/public\\..\\admin", 400},
		{"/public%5C..%5Cadmin", 400},
		{"/items%2Fa", 200}, // the same route either way
		{"/adm%zzin", 400},
		{"/a%00b", 400},
		{"*", 400},
		{"http://api.test/admin", 400},
	} {
		resp := check(t, f.client, checkRequest("GET", tc.path, map[string]string{"authorization": tok}))
		got := 200
		if d := resp.GetDeniedResponse(); d != nil {
			got = int(d.GetStatus().GetCode())
		}
		if got != tc.status {
			t.Errorf("%q: %d, want %d", tc.path, got, tc.status)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	v := authtest.NewVerifier(t, authtest.NewIssuer(t), middleware.Config{})
	for name, cfg := range map[string]extauthz.Config{
		"no verifier":          {},
		"relative prefix":      {Verifier: v, Routes: map[string]middleware.Route{"admin": {}}},
		"unclean prefix":       {Verifier: v, Routes: map[string]middleware.Route{"/a/../admin": {}}},
		"double slash prefix":  {Verifier: v, Routes: map[string]middleware.Route{"//admin": {}}},
		"encoded prefix":       {Verifier: v, Routes: map[string]middleware.Route{"/%61dmin": {}}},
		"query prefix":         {Verifier: v, Routes: map[string]middleware.Route{"/admin?x": {}}},
		"empty claim":          {Verifier: v, ClaimHeaders: map[string]string{"": "x-user"}},
		"bad header name":      {Verifier: v, ClaimHeaders: map[string]string{"sub": "x user"}},
		"authorization header": {Verifier: v, ClaimHeaders: map[string]string{"sub": "Authorization"}},
		"pseudo header":        {Verifier: v, ClaimHeaders: map[string]string{"sub": ":path"}},
		"same header twice":    {Verifier: v, ClaimHeaders: map[string]string{"sub": "X-User", "email": "x_user"}},
	} {
		if s, err := extauthz.New(cfg); err == nil || s != nil || !strings.HasPrefix(err.Error(), "extauthz: ") {
			t.Errorf("%s: got %v, %v; want an extauthz error", name, s, err)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// An API key is never passed on to the upstream: the key header is in
// headers_to_remove on a route that takes keys, and Authorization too when
// the key came in it (the gateway's proxy drops them the same way).
func TestAPIKeyNeverReachesTheUpstream(t *testing.T) {
	idp := authtest.NewIssuer(t)
	key, stored := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Prefix: "jg_", Subject: "build-bot"})
	store, err := apikey.New(apikey.Config{File: jwtgatetest.APIKeyFile(t, stored), Prefix: "jg_"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	v := authtest.NewVerifier(t, idp, middleware.Config{APIKeyHeader: "X-Api-Key"})
	s, err := extauthz.New(extauthz.Config{Verifier: v, Routes: map[string]middleware.Route{
		"/keys": {APIKeys: store, Credentials: []middleware.CredentialKind{middleware.CredentialAPIKey, middleware.CredentialJWT}},
	}, ClaimHeaders: map[string]string{"sub": "X-User"}})
	if err != nil {
		t.Fatal(err)
	}
	client := serve(t, s)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		remove  []string
	}{
		{"key header", map[string]string{"x-api-key": key}, []string{"x-api-key"}},
		{"key as bearer", map[string]string{"authorization": "Bearer " + key}, []string{"authorization", "x-api-key"}},
		{"jwt", map[string]string{"authorization": "Bearer " + idp.Mint(t, jwtgatetest.Claims{})}, []string{"x-api-key"}},
	} {
		resp, err := client.Check(context.Background(), checkRequest("GET", "/keys/x", tc.headers))
		if err != nil {
			t.Fatal(err)
		}
		ok := resp.GetOkResponse()
		if ok == nil {
			t.Fatalf("%s: refused: %v", tc.name, resp.GetDeniedResponse())
		}
		for _, h := range tc.remove {
			if !slices.Contains(ok.GetHeadersToRemove(), h) {
				t.Errorf("%s: headers_to_remove %q lacks %q", tc.name, ok.GetHeadersToRemove(), h)
			}
		}
		if tc.name == "jwt" && slices.Contains(ok.GetHeadersToRemove(), "authorization") {
			t.Errorf("jwt: the token is removed, but StripAuthorization is off")
		}
	}
}
