package policy

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/jwtgate/jwtgate/middleware"
)

// DefaultMaxCost is the cost bound of Options.MaxCost 0: room for a few
// dozen comparisons, membership tests and CIDR checks over bounded claims
// and headers, far below what a runaway comprehension over them costs.
const DefaultMaxCost = 10_000

// Bounds the cost estimate assumes, and evaluation enforces: a request
// whose claims or headers exceed them is denied, never evaluated past the
// bound.
const (
	maxClaims      = 64      // claims in a token a policy may range over
	maxHeaders     = 128     // request headers
	maxStringBytes = 8 << 10 // any one string (a token is at most 8 KiB)
)

// ErrCompile is wrapped by every error Compile returns; the detail is a
// *CompileError.
var ErrCompile = errors.New("policy: invalid expression")

// CompileError says where and why an expression does not compile, or why
// it is refused (its worst-case cost is above the bound).
type CompileError struct {
	// Expression is the expression as given.
	Expression string
	// Line and Column are 1-based; 0 when the problem has no position (a
	// cost bound).
	Line, Column int
	// Message is the compiler's message.
	Message string
}

func (e *CompileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("policy: %q: line %d, column %d: %s", e.Expression, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("policy: %q: %s", e.Expression, e.Message)
}

// Is makes errors.Is(err, ErrCompile) true.
func (e *CompileError) Is(target error) bool { return target == ErrCompile }

// Options tune Compile. The zero value is the default.
type Options struct {
	// MaxCost bounds the expression's worst-case cost, as CEL estimates it
	// from the bounds above: an expression that may cost more is refused
	// by Compile; input beyond the bounds the estimate assumes (more than
	// 64 claims or 8 KiB of them, more than 128 headers or a header over 8
	// KiB) denies. 0 means DefaultMaxCost.
	MaxCost uint64
}

// Policy is a compiled expression. It implements middleware.Policy; it is
// immutable and safe for concurrent use.
type Policy struct {
	expr string
	prg  cel.Program
	uses uses
}

var _ middleware.Policy = (*Policy)(nil)

// uses records which variables an expression reads, so that a request
// pays only for those.
type uses struct{ request, source, mcp bool }

// requestVars is the request variable.
type requestVars struct {
	Method  string            `cel:"method"`
	Path    string            `cel:"path"`
	Host    string            `cel:"host"`
	Scheme  string            `cel:"scheme"`
	Headers map[string]string `cel:"headers"`
}

// sourceVars is the source variable.
type sourceVars struct {
	IP string `cel:"ip"`
}

// mcpVars is the mcp variable.
type mcpVars struct {
	Method string `cel:"method"`
	Tool   string `cel:"tool"`
}

var (
	envOnce sync.Once
	envVal  *cel.Env
	envErr  error
)

// env is the one CEL environment every policy compiles in: building it is
// the costly part, and it never changes.
func env() (*cel.Env, error) {
	envOnce.Do(func() {
		envVal, envErr = cel.NewEnv(
			ext.NativeTypes(ext.ParseStructTags(true), reflect.TypeFor[requestVars](), reflect.TypeFor[sourceVars](), reflect.TypeFor[mcpVars]()),
			cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("request", cel.ObjectType("policy.requestVars")),
			cel.Variable("source", cel.ObjectType("policy.sourceVars")),
			cel.Variable("mcp", cel.ObjectType("policy.mcpVars")),
			ext.Network(),
			ext.Strings(),
		)
	})
	return envVal, envErr
}

// Compile parses, type-checks and cost-checks expr, which must be a
// boolean CEL expression over:
//
//	claims   map(string, dyn)  the verified claims ("claims.sub", "claims.groups")
//	request  method, path, host, scheme, headers (lower-case names, values joined with ", "):
//	         the request the route judges — the request itself, or in the gateway's
//	         decision mode the original a trusted proxy describes; host and scheme
//	         only through trusted proxies
//	source   ip: the client's address, through trusted proxies only
//	         (forwarded.Resolver.ClientIP), for cidr('10.0.0.0/8').containsIP(source.ip)
//	mcp      method, tool: the MCP call being decided, on a protected-resource
//	         route, once per JSON-RPC message ("" elsewhere)
//
// with CEL's standard library, its strings and network extensions (ip,
// cidr, containsIP). A claim that is absent, a value of the wrong type or
// any other runtime error denies the request.
func Compile(expr string, opts Options) (*Policy, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	if opts.MaxCost == 0 {
		opts.MaxCost = DefaultMaxCost
	}
	if strings.TrimSpace(expr) == "" {
		return nil, &CompileError{Expression: expr, Message: "empty expression"}
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		ce := &CompileError{Expression: expr, Message: iss.Err().Error()}
		if errs := iss.Errors(); len(errs) > 0 {
			loc := errs[0].Location
			ce.Line, ce.Column, ce.Message = loc.Line(), loc.Column()+1, errs[0].Message
		}
		return nil, ce
	}
	if ast.OutputType() != cel.BoolType {
		return nil, &CompileError{Expression: expr, Message: "the expression is " + ast.OutputType().String() + ", not bool"}
	}
	est, err := e.EstimateCost(ast, estimator{})
	if err != nil {
		return nil, &CompileError{Expression: expr, Message: "cost: " + err.Error()}
	}
	if est.Max > opts.MaxCost {
		return nil, &CompileError{Expression: expr, Message: fmt.Sprintf("worst-case cost %d is above the bound %d", est.Max, opts.MaxCost)}
	}
	// No runtime cost tracking (it costs more than a short expression):
	// Allow refuses input beyond the bounds the estimate assumed, so the
	// estimate is the bound.
	prg, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &CompileError{Expression: expr, Message: err.Error()}
	}
	p := &Policy{expr: expr, prg: prg}
	for _, r := range ast.NativeRep().ReferenceMap() {
		switch r.Name {
		case "request":
			p.uses.request = true
		case "source":
			p.uses.source = true
		case "mcp":
			p.uses.mcp = true
		}
	}
	return p, nil
}

// String returns the expression.
func (p *Policy) String() string { return p.expr }

// Allow evaluates the expression for in: nil when it is true; an error
// matching middleware.ErrPolicyDenied when it is false, cannot be
// evaluated (an absent claim, a type mismatch, a runtime error, the cost
// bound) or its input is over the bounds.
func (p *Policy) Allow(in middleware.PolicyRequest) error {
	a := activationPool.Get().(*activation)
	defer func() {
		*a = activation{}
		activationPool.Put(a)
	}()
	if in.Claims.Size() > maxStringBytes {
		return deny("claims longer than %d bytes", maxStringBytes)
	}
	claims, err := in.Claims.Map()
	if err != nil {
		return deny("claims: %v", err)
	}
	if len(claims) > maxClaims {
		return deny("more than %d claims", maxClaims)
	}
	a.claims = claims
	if p.uses.request {
		if a.request, err = requestOf(in); err != nil {
			return err
		}
	}
	if p.uses.source {
		ip, err := in.Forwarded.ClientIP(in.Request)
		if err != nil {
			return deny("source.ip: %v", err)
		}
		a.source = &sourceVars{IP: ip.String()}
	}
	if p.uses.mcp {
		a.mcp = &mcpVars{Method: in.MCP.Method, Tool: in.MCP.Tool}
	}
	out, _, err := p.prg.Eval(a)
	if err != nil {
		return deny("%v", err)
	}
	if out != types.True {
		return errDenied
	}
	return nil
}

var errDenied = fmt.Errorf("%w: expression is false", middleware.ErrPolicyDenied)

func deny(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{middleware.ErrPolicyDenied}, args...)...)
}

// requestOf is the request variable for in.
func requestOf(in middleware.PolicyRequest) (*requestVars, error) {
	r := in.Request
	if len(r.Header) > maxHeaders {
		return nil, deny("more than %d request headers", maxHeaders)
	}
	view := in.Forwarded.View(r)
	rv := &requestVars{Method: r.Method, Path: r.URL.Path, Host: view.Host, Scheme: view.Scheme, Headers: make(map[string]string, len(r.Header))}
	for name, vals := range r.Header {
		v := strings.Join(vals, ", ")
		if len(v) > maxStringBytes {
			return nil, deny("request header %s is longer than %d bytes", name, maxStringBytes)
		}
		rv.Headers[strings.ToLower(name)] = v
	}
	return rv, nil
}

// activation resolves the policy's variables without a map per request.
type activation struct {
	claims  map[string]any
	request *requestVars
	source  *sourceVars
	mcp     *mcpVars
}

var activationPool = sync.Pool{New: func() any { return new(activation) }}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "claims":
		return a.claims, a.claims != nil
	case "request":
		return a.request, a.request != nil
	case "source":
		return a.source, a.source != nil
	case "mcp":
		return a.mcp, a.mcp != nil
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

var _ interpreter.Activation = (*activation)(nil)

// estimator gives CEL's cost estimate the bounds Allow enforces, so that
// an expression ranging over claims or headers has a finite worst case.
type estimator struct{}

func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	switch {
	case path[0] == "claims" && len(path) == 1:
		return &cost.SizeEstimate{Min: 0, Max: maxClaims}
	case path[0] == "request" && len(path) == 2 && path[1] == "headers":
		return &cost.SizeEstimate{Min: 0, Max: maxHeaders}
	}
	if t := n.Type(); t != nil && (t.Kind() == types.StringKind || t.Kind() == types.BytesKind) {
		return &cost.SizeEstimate{Min: 0, Max: maxStringBytes}
	}
	if len(path) > 1 && (path[0] == "claims") {
		// A claim's own value (a list of groups): as long as a token
		// allows.
		return &cost.SizeEstimate{Min: 0, Max: maxStringBytes}
	}
	return nil
}

func (estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}
