package verdict

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/gin-gonic/gin"
	"github.com/labstack/echo/v4"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	jwtecho "github.com/jwtgate/jwtgate/adapters/echo"
	jwtgin "github.com/jwtgate/jwtgate/adapters/gin"
	jwtmcp "github.com/jwtgate/jwtgate/adapters/mcp"
	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/extauthz"
	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/grpcauth"
	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/policy"
	"github.com/jwtgate/jwtgate/ratelimit"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

// verdict is a face's answer in the terms every face shares: allowed (200)
// with the subject the protected side learned, or the HTTP status (a gRPC
// code mapped back) with the client-safe description.
type verdict struct {
	Status int
	Desc   string
	Sub    string
}

// call is one request of the matrix: the route whose requirements apply
// and the token (none when empty).
type call struct {
	route, token string
	body         string // an MCP JSON-RPC body, sent with POST; "" sends a GET
	keyHeader    bool   // the token goes in X-Api-Key, not Authorization
}

// keyHeader is the header API keys may come in on every face.
const keyHeader = "X-Api-Key"

// authHeader is the header and value that carry c's token.
func (c call) authHeader() (string, string) {
	if c.keyHeader {
		return keyHeader, c.token
	}
	return "Authorization", "Bearer " + c.token
}

// face is one way jwtgate answers. pkg is the package that implements it
// (TestEveryFaceIsInTheMatrix), spend spends a subject's whole budget on
// the "budget" route the way that face's deployment does.
type face struct {
	name, pkg string
	do        func(t *testing.T, c call) verdict
	spend     func(t *testing.T, token string)
	// noBody marks a face that never sees the request body (a decision
	// sub-request, a gRPC call): it answers body rows with the row's
	// wantNoBody.
	noBody bool
	// bearerOnly marks a face whose protocol carries credentials in
	// Authorization only (MCP): it answers header-key rows with the row's
	// wantBearerOnly.
	bearerOnly bool
}

// The routes every face serves, by name: the one requirement each adds.
const resourceURI = "https://mcp.example.com/mcp"

// routeFields says which row covers each Route field; a field added to
// middleware.Route without a row fails TestMatrixCoversEveryRequirement.
var routeFields = map[string]string{
	"Scopes":        "missing scope",
	"RateLimit":     "rate-limited",
	"Audiences":     "wrong audience",
	"ClaimHeaders":  "valid",
	"Types":         "wrong type",
	"Resource":      "another resource's token",
	"DPoP":          "bearer on a DPoP-required route",
	"Budget":        "budget spent",
	"RequireACR":    "weak login",
	"MaxAuthAge":    "stale login",
	"Policy":        "policy denial",
	"Credentials":   "jwt on a key-only route",
	"Introspection": "inactive opaque token",
	"APIKeys":       "unknown api key",
}

// resourceFields says which row covers each middleware.Resource field.
var resourceFields = map[string]string{
	"URI":                  "another resource's token",
	"AuthorizationServers": "another resource's token",
	"ScopesSupported":      "another resource's token",
	"Name":                 "another resource's token",
	"AccessTokenOnly":      "wrong type",
	"Tools":                "forbidden MCP tool",
}

type row struct {
	name  string
	route string
	down  bool // the identity provider is down from the start
	mint  func(t *testing.T, idp *jwtgatetest.Issuer, sub string) string
	pre   int  // requests sent first (they must be allowed)
	spend bool // the subject's budget is spent first
	body  string
	want  verdict
	// wantNoBody is the answer of a face that cannot see body: a tool
	// rule it cannot check refuses, never passes.
	wantNoBody verdict
	// opaque sends a token the introspection endpoint issued (active)
	// instead of a JWT; key sends the world's API key, whose subject is
	// keySubject; raw sends exactly this credential.
	opaque, key bool
	raw         string
	// header sends the credential in X-Api-Key instead of Authorization;
	// wantBearerOnly is then the answer of a bearerOnly face.
	header         bool
	wantBearerOnly verdict
}

// keySubject is the subject of the API key every world holds.
const keySubject = "key-bot"

// world is what a matrix world's faces share besides the identity
// provider: an introspection endpoint and an API-key file.
type world struct {
	idp     *jwtgatetest.Issuer
	as      *jwtgatetest.IntrospectionServer
	key     string
	keyFile string
}

func newWorld(t *testing.T, down bool) *world {
	w := &world{idp: jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})}
	w.as = jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
	var line string
	w.key, line = jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Prefix: "jg_", Subject: keySubject})
	w.keyFile = jwtgatetest.APIKeyFile(t, line)
	if down {
		b := jwtgatetest.Behavior{Status: http.StatusServiceUnavailable}
		if err := w.idp.SetDiscovery(b); err != nil {
			t.Fatal(err)
		}
		if err := w.idp.SetJWKS(b); err != nil {
			t.Fatal(err)
		}
		w.as.SetFault(jwtgatetest.IntrospectionFault{Status: http.StatusInternalServerError})
	}
	return w
}

// credential is the row's credential for subject sub.
func (r row) credential(t *testing.T, w *world, sub string) string {
	switch {
	case r.raw != "":
		return r.raw
	case r.key:
		return w.key
	case r.opaque:
		return w.as.Issue(t, jwtgatetest.Claims{Subject: sub, Issuer: w.idp.Issuer(), Audience: "api"})
	case r.mint != nil:
		return r.mint(t, w.idp, sub)
	}
	return ""
}

func mint(c jwtgatetest.Claims) func(*testing.T, *jwtgatetest.Issuer, string) string {
	return func(t *testing.T, idp *jwtgatetest.Issuer, sub string) string {
		c := c
		c.Subject = sub
		return idp.Mint(t, c)
	}
}

func rows() []row {
	valid := mint(jwtgatetest.Claims{})
	return []row{
		{name: "no token", route: "open", want: verdict{Status: 401, Desc: "authentication required"}},
		{name: "expired", route: "open", mint: mint(jwtgatetest.Claims{IssuedAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)}),
			want: verdict{Status: 401, Desc: "token expired"}},
		{name: "wrong audience", route: "aud", mint: valid, want: verdict{Status: 401, Desc: "audience not accepted"}},
		{name: "wrong type", route: "typ", mint: valid, want: verdict{Status: 401, Desc: "token type not accepted"}},
		{name: "missing scope", route: "scope", mint: mint(jwtgatetest.Claims{Scopes: []string{"read"}}), want: verdict{Status: 403, Desc: "insufficient scope"}},
		{name: "another resource's token", route: "resource", mint: valid, want: verdict{Status: 401, Desc: "audience not accepted"}},
		{name: "rate-limited", route: "rate", mint: valid, pre: 1, want: verdict{Status: 429, Desc: "rate limit exceeded"}},
		{name: "budget spent", route: "budget", mint: valid, spend: true, want: verdict{Status: 429, Desc: "token budget exhausted"}},
		// A tenant budget cannot charge a token that names no tenant.
		{name: "budget without tenant", route: "tenant", mint: valid, want: verdict{Status: 403, Desc: "denied by budget"}},
		{name: "keys unavailable", route: "open", down: true, mint: valid, want: verdict{Status: 503, Desc: "keys unavailable"}},
		{name: "bound token without proof", route: "open", mint: mint(jwtgatetest.Claims{Extra: map[string]any{"cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}}),
			want: verdict{Status: 401, Desc: "token is sender-constrained"}},
		{name: "bearer on a DPoP-required route", route: "dpop", mint: valid, want: verdict{Status: 401, Desc: "DPoP-bound token required"}},
		{name: "weak login", route: "acr", mint: mint(jwtgatetest.Claims{Extra: map[string]any{"acr": "urn:pwd"}}),
			want: verdict{Status: 401, Desc: "authentication level insufficient"}},
		{name: "stale login", route: "authage", mint: mint(jwtgatetest.Claims{Extra: map[string]any{"auth_time": time.Now().Add(-time.Hour).Unix()}}),
			want: verdict{Status: 401, Desc: "authentication level insufficient"}},
		{name: "policy denial", route: "policy", mint: mint(jwtgatetest.Claims{Extra: map[string]any{"tenant": "globex"}}),
			want: verdict{Status: 403, Desc: "denied by policy"}},
		{name: "forbidden MCP tool", route: "tools", mint: mint(jwtgatetest.Claims{Audience: resourceURI + "/tools"}),
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo"}}`,
			want: verdict{Status: 403, Desc: "insufficient scope"}, wantNoBody: verdict{Status: 400, Desc: "MCP message unreadable"}},
		{name: "valid", route: "open", mint: valid, want: verdict{Status: 200}},
		{name: "opaque token", route: "creds", opaque: true, want: verdict{Status: 200}},
		{name: "inactive opaque token", route: "creds", raw: "never-issued-opaque-token", want: verdict{Status: 401, Desc: "token not active"}},
		{name: "introspection unavailable", route: "creds", down: true, opaque: true, want: verdict{Status: 503, Desc: "introspection unavailable"}},
		{name: "api key", route: "creds", key: true, want: verdict{Status: 200, Sub: keySubject}},
		{name: "unknown api key", route: "creds", raw: "jg_not-a-key-of-this-world", want: verdict{Status: 401, Desc: "api key not accepted"}},
		{name: "api key on its own route", route: "keys", key: true, want: verdict{Status: 200, Sub: keySubject}},
		{name: "jwt on a key-only route", route: "keys", mint: valid, want: verdict{Status: 401, Desc: "credential kind not accepted"}},
		{name: "api key on a jwt-only route", route: "open", key: true, want: verdict{Status: 401, Desc: "token is not a compact JWS"}},
		{name: "api key in its header", route: "keys", key: true, header: true, want: verdict{Status: 200, Sub: keySubject},
			// The MCP SDK itself wants the credential in Authorization
			// (the MCP spec's place), after jwtgate let the key through.
			wantBearerOnly: verdict{Status: 401, Desc: "non-JSON body: no bearer token"}},
		{name: "unknown api key in its header", route: "creds", raw: "jg_nope", header: true, want: verdict{Status: 401, Desc: "api key not accepted"},
			wantBearerOnly: verdict{Status: 401, Desc: "api key not accepted"}},
		{name: "api key in its header on a jwt-only route", route: "open", key: true, header: true, want: verdict{Status: 401, Desc: "authentication required"},
			wantBearerOnly: verdict{Status: 401, Desc: "authentication required"}},
	}
}

// The same requests through every face give the same verdict.
func TestVerdictMatrix(t *testing.T) {
	worlds := map[bool][]face{}
	ws := map[bool]*world{}
	for _, down := range []bool{false, true} {
		ws[down] = newWorld(t, down)
		worlds[down] = faces(t, ws[down], !down)
	}
	for _, r := range rows() {
		t.Run(r.name, func(t *testing.T) {
			for _, f := range worlds[r.down] {
				sub := strings.NewReplacer(" ", "-", "'", "").Replace(r.name) + "." + f.name
				tok := r.credential(t, ws[r.down], sub)
				for i := range r.pre {
					if got := f.do(t, call{r.route, tok, r.body, r.header}); got.Status != 200 {
						t.Fatalf("%s: request %d before: %+v", f.name, i+1, got)
					}
				}
				if r.spend {
					f.spend(t, tok)
				}
				want := r.want
				if f.noBody && r.body != "" {
					want = r.wantNoBody
				}
				if f.bearerOnly && r.header {
					want = r.wantBearerOnly
				}
				if want.Status == 200 && want.Sub == "" {
					want.Sub = sub
				}
				if got := f.do(t, call{r.route, tok, r.body, r.header}); got != want {
					t.Errorf("%s: got %+v, want %+v", f.name, got, want)
				}
			}
		})
	}
}

// Every Route requirement has a row in the matrix.
func TestMatrixCoversEveryRequirement(t *testing.T) {
	names := map[string]bool{}
	for _, r := range rows() {
		names[r.name] = true
	}
	rt := reflect.TypeFor[middleware.Route]()
	for i := range rt.NumField() {
		f := rt.Field(i).Name
		if row, ok := routeFields[f]; !ok || !names[row] {
			t.Errorf("middleware.Route.%s has no row in the verdict matrix: add a route that requires it to every face and a row that it refuses", f)
		}
	}
	res := reflect.TypeFor[middleware.Resource]()
	for i := range res.NumField() {
		f := res.Field(i).Name
		if row, ok := resourceFields[f]; !ok || !names[row] {
			t.Errorf("middleware.Resource.%s has no row in the verdict matrix", f)
		}
	}
}

// Every package that answers for the Verifier (calls Authenticate or
// Verify on it) is a face of the matrix.
func TestEveryFaceIsInTheMatrix(t *testing.T) {
	covered := map[string]bool{}
	// The faces as the matrix builds them (their keys need not load).
	for _, f := range faces(t, newWorld(t, false), false) {
		covered[f.pkg] = true
	}
	call := regexp.MustCompile(`\.(Authenticate|Verify)\(`)
	root := "../.."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case "benchmarks", "examples", "middleware", "internal/verdict", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if call.Match(b) && strings.Contains(string(b), "middleware.") && !covered[filepath.ToSlash(filepath.Dir(rel))] {
			t.Errorf("%s answers for a Verifier but %s is not a face of the verdict matrix", rel, filepath.Dir(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// faces builds every face for the identity provider idp, waiting for its
// keys when ready.
func faces(t *testing.T, w *world, ready bool) []face {
	lib := libraryFaces(t, w, ready)
	return append(lib, gatewayFaces(t, w, ready)...)
}

// libraryFaces: one Verifier and one Route per requirement, as a library
// user builds them, behind each face.
func libraryFaces(t *testing.T, w *world, ready bool) []face {
	t.Helper()
	idp := w.idp
	intro, err := introspect.New(introspect.Config{Endpoint: w.as.URL(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { intro.Close() })
	keyStore, err := apikey.New(apikey.Config{File: w.keyFile, Prefix: "jg_", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keyStore.Close() })
	keys, err := cache.New(context.Background(), cache.Config{Issuer: idp.Issuer(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	if ready {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := keys.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	base, err := middleware.New(middleware.Config{Keys: keys, Issuers: []string{idp.Issuer()}, Audiences: []string{"api", "orders", resourceURI, resourceURI + "/tools"},
		APIKeyHeader: keyHeader, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1, Period: time.Hour, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	spent, err := budget.NewLocal(budget.LocalConfig{Limit: 1, Window: budget.PerDay})
	if err != nil {
		t.Fatal(err)
	}
	bh, err := budget.NewHandler(budget.Config{Budget: spent})
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := budget.NewLocal(budget.LocalConfig{Limit: 1000, Window: budget.PerDay})
	if err != nil {
		t.Fatal(err)
	}
	th, err := budget.NewHandler(budget.Config{Budget: tenants, TenantClaim: "org", Tenant: tenants})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]middleware.Route{
		"tenant":   {Budget: th},
		"open":     {ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"}},
		"aud":      {Audiences: []string{"orders"}},
		"typ":      {Types: []string{"at+jwt"}},
		"scope":    {Scopes: []string{"admin"}},
		"resource": {Resource: &middleware.Resource{URI: resourceURI, AuthorizationServers: []string{idp.Issuer()}}},
		"rate":     {RateLimit: &middleware.RateLimit{Limiter: lim}},
		"budget":   {Budget: bh},
		"dpop":     {DPoP: middleware.DPoPRequired},
		"acr":      {RequireACR: []string{"urn:mfa"}},
		"authage":  {MaxAuthAge: time.Minute},
		"policy":   {Policy: tenantPolicy(t)},
		"tools": {Resource: &middleware.Resource{URI: resourceURI + "/tools", AuthorizationServers: []string{idp.Issuer()},
			Tools: map[string]middleware.ToolRule{"delete_repo": {Scopes: []string{"admin"}}}}},
		"creds": {ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"}, Introspection: intro, APIKeys: keyStore,
			Credentials: []middleware.CredentialKind{middleware.CredentialJWT, middleware.CredentialAPIKey, middleware.CredentialIntrospection}},
		"keys": {ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"}, APIKeys: keyStore, Credentials: []middleware.CredentialKind{middleware.CredentialAPIKey}},
	}
	verifiers := map[string]*middleware.Verifier{}
	for name, rt := range routes {
		verifiers[name] = base.With(rt)
	}
	spend := func(t *testing.T, token string) {
		c, err := base.Verify(context.Background(), token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := spent.Charge(context.Background(), budget.DefaultKey(c, nil), 1000); err != nil {
			t.Fatal(err)
		}
	}
	subject := func(c *middleware.Claims, ok bool) string {
		if !ok {
			return ""
		}
		return c.Subject
	}
	overHTTP := func(h func(route string) http.Handler) func(*testing.T, call) verdict {
		return func(t *testing.T, c call) verdict {
			r := c.request("/" + c.route + "/x")
			if c.token != "" {
				r.Header.Set(c.authHeader())
			}
			w := httptest.NewRecorder()
			h(c.route).ServeHTTP(w, r)
			return fromHTTP(t, w.Code, w.Body.String())
		}
	}
	handlers := map[string]map[string]http.Handler{"handler": {}, "gin": {}, "echo": {}, "mcp": {}}
	for name, v := range verifiers {
		handlers["handler"][name] = v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeSub(w, subject(middleware.ClaimsFromContext(r.Context())))
		}))
		g := gin.New()
		g.Use(jwtgin.Middleware(v))
		g.GET("/*any", func(c *gin.Context) { writeSub(c.Writer, subject(jwtgin.Claims(c))) })
		handlers["gin"][name] = g
		e := echo.New()
		mw, err := jwtecho.New(jwtecho.Config{Verifier: v})
		if err != nil {
			t.Fatal(err)
		}
		e.Use(mw)
		e.GET("/*", func(c echo.Context) error { writeSub(c.Response(), subject(jwtecho.Claims(c))); return nil })
		handlers["echo"][name] = e
		handlers["mcp"][name] = jwtmcp.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sub := ""
			if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
				if c, ok := ti.Extra[jwtmcp.ClaimsKey].(*middleware.Claims); ok {
					sub = c.Subject
				}
			}
			writeSub(w, sub)
		}))
	}
	var out []face
	for _, n := range [][2]string{{"handler", "middleware"}, {"gin", "adapters/gin"}, {"echo", "adapters/echo"}, {"mcp", "adapters/mcp"}} {
		hs := handlers[n[0]]
		out = append(out, face{name: n[0], pkg: n[1], spend: spend, bearerOnly: n[0] == "mcp", do: overHTTP(func(route string) http.Handler { return hs[route] })})
	}

	extRoutes := map[string]middleware.Route{}
	methods := map[string]middleware.Route{}
	for name, rt := range routes {
		extRoutes["/"+name] = rt
		methods["/verdict.Matrix/"+name] = rt
	}
	ext, err := extauthz.New(extauthz.Config{Verifier: base, Routes: extRoutes, ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"}})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, face{name: "extauthz", pkg: "extauthz", spend: spend, do: func(t *testing.T, c call) verdict {
		hdr := map[string]string{}
		if c.token != "" {
			k, v := c.authHeader()
			hdr[strings.ToLower(k)] = v
		}
		resp, err := ext.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: c.method(), Scheme: "http", Host: "api.example", Path: "/" + c.route + "/x", Headers: hdr, Body: c.body},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if ok := resp.GetOkResponse(); ok != nil {
			for _, h := range ok.GetHeaders() {
				if h.GetHeader().GetKey() == "x-jwtgate-subject" {
					return verdict{Status: 200, Sub: h.GetHeader().GetValue()}
				}
			}
			return verdict{Status: 200}
		}
		d := resp.GetDeniedResponse()
		return fromHTTP(t, int(d.GetStatus().GetCode()), d.GetBody())
	}})

	ic, err := grpcauth.New(grpcauth.Config{Verifier: base, Methods: methods})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, face{name: "grpc", pkg: "grpcauth", spend: spend, noBody: true, do: func(t *testing.T, c call) verdict {
		ctx := context.Background()
		if c.token != "" {
			k, v := c.authHeader()
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(strings.ToLower(k), v))
		}
		info := &grpc.UnaryServerInfo{FullMethod: "/verdict.Matrix/" + c.route}
		resp, err := ic.UnaryServerInterceptor(ctx, nil, info, func(ctx context.Context, _ any) (any, error) {
			return subject(middleware.ClaimsFromContext(ctx)), nil
		})
		if err != nil {
			st := status.Convert(err)
			return verdict{Status: httpStatus[st.Code().String()], Desc: st.Message()}
		}
		return verdict{Status: 200, Sub: resp.(string)}
	}})
	return out
}

const tenantExpr = `claims.tenant == "acme"`

func tenantPolicy(t *testing.T) *policy.Policy {
	p, err := policy.Compile(tenantExpr, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// httpStatus maps grpcauth's codes back (grpcauth.Code's table).
var httpStatus = map[string]int{"InvalidArgument": 400, "Unauthenticated": 401, "PermissionDenied": 403, "ResourceExhausted": 429, "Unavailable": 503, "Internal": 500}

// gatewayFaces: the gateway, from a config with the same routes, as a
// proxy and as the decision service behind a proxy.
func gatewayFaces(t *testing.T, w *world, ready bool) []face {
	t.Helper()
	idp := w.idp
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeSub(w, r.Header.Get("X-Jwtgate-Subject"))
	}))
	t.Cleanup(up.Close)
	rate, burst := 1.0/3600, 1
	cfg := gateway.Config{Issuer: idp.Issuer(), Audiences: []string{"api"},
		Introspection: &gateway.Introspection{Endpoint: w.as.URL()},
		APIKeys:       &gateway.APIKeys{File: w.keyFile, Prefix: "jg_", Header: keyHeader},
		Routes: []gateway.Route{
			{Prefix: "/open", Upstream: up.URL, ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"}},
			{Prefix: "/aud", Upstream: up.URL, Audiences: []string{"orders"}},
			{Prefix: "/typ", Upstream: up.URL, Types: []string{"at+jwt"}},
			{Prefix: "/scope", Upstream: up.URL, Scopes: []string{"admin"}},
			{Prefix: "/resource", Upstream: up.URL, Resource: &gateway.Resource{URI: resourceURI}},
			{Prefix: "/rate", Upstream: up.URL, Rate: &rate, Burst: &burst},
			{Prefix: "/budget", Upstream: up.URL, Budget: &gateway.RouteBudget{Limit: 1, Window: "day"}},
			{Prefix: "/tenant", Upstream: up.URL, Budget: &gateway.RouteBudget{Limit: 1000, Window: "day",
				TenantClaim: "org", Tenant: &gateway.BudgetTier{Limit: 1000}}},
			{Prefix: "/dpop", Upstream: up.URL, DPoP: gateway.DPoPRequired},
			{Prefix: "/acr", Upstream: up.URL, ACRValues: []string{"urn:mfa"}},
			{Prefix: "/authage", Upstream: up.URL, MaxAuthAge: time.Minute},
			{Prefix: "/policy", Upstream: up.URL, Policy: tenantExpr},
			{Prefix: "/tools", Upstream: up.URL, Resource: &gateway.Resource{URI: resourceURI + "/tools",
				Tools: map[string]gateway.ResourceTool{"delete_repo": {Scopes: []string{"admin"}}}}},
			{Prefix: "/creds", Upstream: up.URL, ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"}, Credentials: []string{"jwt", "api_key", "introspection"}},
			{Prefix: "/keys", Upstream: up.URL, ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"}, Credentials: []string{"api_key"}},
			{Prefix: "/_jwtgate", Mode: gateway.ModeDecision},
		}}
	tr := &http.Transport{}
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: quiet, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Close()
		tr.CloseIdleConnections()
	})
	if ready {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		g.Handler().ServeHTTP(w, r)
		return w
	}
	withToken := func(r *http.Request, token string) *http.Request {
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return r
	}
	withCall := func(r *http.Request, c call) *http.Request {
		if c.token != "" {
			r.Header.Set(c.authHeader())
		}
		return r
	}
	spend := func(t *testing.T, token string) {
		// The way a deployment spends: an answer without usage through the
		// proxy, charged the fallback estimate (1000 > the limit of 1).
		w := serve(withToken(httptest.NewRequest(http.MethodPost, "/budget/x", strings.NewReader("{}")), token))
		if w.Code != 200 {
			t.Fatalf("spending through the proxy: %d %s", w.Code, w.Body)
		}
	}
	return []face{
		{name: "gateway proxy", pkg: "gateway", spend: spend, do: func(t *testing.T, c call) verdict {
			w := serve(withCall(c.request("/"+c.route+"/x"), c))
			return fromHTTP(t, w.Code, w.Body.String())
		}},
		{name: "gateway decision", pkg: "gateway", spend: spend, noBody: true, do: func(t *testing.T, c call) verdict {
			r := withCall(httptest.NewRequest(http.MethodGet, "/_jwtgate", nil), c)
			r.RemoteAddr = "127.0.0.1:40000" // a trusted proxy's sub-request
			r.Header.Set("X-Original-URI", "/"+c.route+"/x")
			r.Header.Set("X-Original-Method", c.method())
			w := serve(r)
			if w.Code == 200 {
				return verdict{Status: 200, Sub: w.Header().Get("X-Jwtgate-Subject")}
			}
			return fromHTTP(t, w.Code, w.Body.String())
		}},
	}
}

// method is the call's HTTP method: POST with a body, else GET.
func (c call) method() string {
	if c.body != "" {
		return http.MethodPost
	}
	return http.MethodGet
}

// request is the call to target as an HTTP request, without its token.
func (c call) request(target string) *http.Request {
	r := httptest.NewRequest(c.method(), target, strings.NewReader(c.body))
	if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func writeSub(w http.ResponseWriter, sub string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"sub": sub})
}

// fromHTTP reads a verdict off an HTTP answer: the subject an allowed
// request's handler saw, or the error body's description.
func fromHTTP(t *testing.T, status int, body string) verdict {
	t.Helper()
	var b struct {
		Sub  string `json:"sub"`
		Desc string `json:"error_description"`
	}
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&b); err != nil && err != io.EOF {
		// Not jwtgate's JSON: the face wrote its own answer.
		return verdict{Status: status, Desc: "non-JSON body: " + strings.TrimSpace(body)}
	}
	if status == 200 {
		return verdict{Status: 200, Sub: b.Sub}
	}
	return verdict{Status: status, Desc: b.Desc}
}
