package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// ToolRule is what a call of one MCP tool (tools/call) needs on top of the
// route's own requirements: see Resource.Tools.
type ToolRule struct {
	// Scopes the token must all have to call the tool (else 403
	// insufficient_scope, naming them in the challenge's scope).
	Scopes []string
	// Policy, when not nil, must allow the call (its PolicyRequest.MCP
	// names the tool); else 403 access_denied.
	Policy Policy
}

// MCPCall is one JSON-RPC message of an MCP request: its method and, for
// tools/call, the tool's name.
type MCPCall struct {
	Method string
	Tool   string
}

// MaxMCPMessageSize bounds the request body read to find the tool calls
// on a route with Resource.Tools or a Policy: a longer body is refused
// (400), never passed on unchecked.
const MaxMCPMessageSize = 1 << 20

var (
	errMCPTooLarge = &Error{kind: ErrInvalidRequest, desc: "MCP message too large to check"}
	errMCPBody     = &Error{kind: ErrInvalidRequest, desc: "MCP message unreadable"}
)

// toolRules is a Resource's Tools, compiled: exact names, then prefixes
// (a rule "github_*"), longest first.
type toolRules struct {
	exact    map[string]*ToolRule
	prefixes []toolPrefix
}

type toolPrefix struct {
	prefix string
	rule   *ToolRule
}

// compileTools checks and compiles tools; nil for none.
func compileTools(tools map[string]ToolRule) (*toolRules, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	tr := &toolRules{exact: make(map[string]*ToolRule)}
	for name, rule := range tools {
		base, wild := strings.CutSuffix(name, "*")
		if name == "" || strings.Contains(base, "*") || !utf8.ValidString(name) {
			return nil, configErr("Resource.Tools: %q: want a tool name, or a prefix ending in *", name)
		}
		if len(rule.Scopes) > 0 && !scopeTokens(rule.Scopes) {
			return nil, configErr("Resource.Tools[%q].Scopes: %q has characters a scope cannot have", name, rule.Scopes)
		}
		r := &ToolRule{Scopes: slices.Clone(rule.Scopes), Policy: rule.Policy}
		if wild {
			tr.prefixes = append(tr.prefixes, toolPrefix{prefix: base, rule: r})
		} else {
			tr.exact[name] = r
		}
	}
	slices.SortFunc(tr.prefixes, func(a, b toolPrefix) int { return len(b.prefix) - len(a.prefix) })
	return tr, nil
}

// rule returns the rule for tool, compared byte for byte (no case folding,
// no Unicode normalisation: a name that differs is another tool), or nil.
func (tr *toolRules) rule(tool string) *ToolRule {
	if tr == nil {
		return nil
	}
	if r, ok := tr.exact[tool]; ok {
		return r
	}
	for _, p := range tr.prefixes {
		if strings.HasPrefix(tool, p.prefix) {
			return p.rule
		}
	}
	return nil
}

// mcpCalls reads the JSON-RPC messages of an MCP request (a POST; other
// methods carry none) and puts the body back for the next handler. A body
// that is empty, over MaxMCPMessageSize, not valid UTF-8 JSON, or that
// spells a member twice is refused: a tool call jwtgate cannot read is
// never passed on unchecked.
func mcpCalls(r *http.Request) ([]MCPCall, *Error) {
	if r.Method != http.MethodPost {
		return nil, nil
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, errMCPBody
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxMCPMessageSize+1))
	if err != nil {
		return nil, &Error{kind: ErrInvalidRequest, desc: "MCP message unreadable", cause: err}
	}
	r.Body = bodyReader{Reader: bytes.NewReader(body), Closer: r.Body}
	if len(body) > MaxMCPMessageSize {
		return nil, errMCPTooLarge
	}
	calls, err := parseMCP(body)
	if err != nil {
		return nil, &Error{kind: ErrInvalidRequest, desc: "MCP message unreadable", cause: err}
	}
	return calls, nil
}

type bodyReader struct {
	io.Reader
	io.Closer
}

var errMCPShape = errors.New("middleware: not a JSON-RPC message")

// parseMCP reads a JSON-RPC message or batch, with member names compared
// exactly (encoding/json's struct decoding would also take "Method").
func parseMCP(body []byte) ([]MCPCall, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("middleware: MCP message is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	var calls []MCPCall
	switch tok {
	case json.Delim('{'):
		c, err := parseMessage(dec)
		if err != nil {
			return nil, err
		}
		calls = append(calls, c)
	case json.Delim('['):
		for dec.More() {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				return nil, errMCPShape
			}
			c, err := parseMessage(dec)
			if err != nil {
				return nil, err
			}
			calls = append(calls, c)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, err
		}
	default:
		return nil, errMCPShape
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("middleware: data after the MCP message")
	}
	return calls, nil
}

// parseMessage reads one message's members after its '{'.
func parseMessage(dec *json.Decoder) (MCPCall, error) {
	var (
		c                   MCPCall
		seenMethod, seenPar bool
		name                *string
	)
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return c, err
		}
		switch key {
		case "method":
			if seenMethod {
				return c, errors.New("middleware: method twice")
			}
			seenMethod = true
			v, err := dec.Token()
			s, ok := v.(string)
			if err != nil || !ok {
				return c, errMCPShape
			}
			c.Method = s
		case "params":
			if seenPar {
				return c, errors.New("middleware: params twice")
			}
			seenPar = true
			if name, err = paramsName(dec); err != nil {
				return c, err
			}
		default:
			if k, _ := key.(string); strings.EqualFold(k, "method") || strings.EqualFold(k, "params") {
				// A server decoding with encoding/json would read
				// "Method" as method: one message, two readings.
				return c, errors.New("middleware: a member spelled like method or params in another case")
			}
			if err := skipValue(dec); err != nil {
				return c, err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return c, err
	}
	if c.Method == "tools/call" {
		if name == nil {
			return c, errors.New("middleware: tools/call without a tool name")
		}
		c.Tool = *name
	}
	return c, nil
}

// paramsName reads params and returns its name member when it is a
// string (nil when absent or params is not an object).
func paramsName(dec *json.Decoder) (*string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		if d, ok := tok.(json.Delim); ok {
			return nil, skipRest(dec, d)
		}
		return nil, nil
	}
	var name *string
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if key != "name" {
			if k, _ := key.(string); strings.EqualFold(k, "name") {
				return nil, errors.New("middleware: a member spelled like name in another case")
			}
			if err := skipValue(dec); err != nil {
				return nil, err
			}
			continue
		}
		if name != nil {
			return nil, errors.New("middleware: params.name twice")
		}
		v, err := dec.Token()
		s, ok := v.(string)
		if err != nil || !ok {
			return nil, errors.New("middleware: params.name is not a string")
		}
		name = &s
	}
	_, err = dec.Token() // '}'
	return name, err
}

// skipValue consumes one value.
func skipValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok {
		return skipRest(dec, d)
	}
	return nil
}

// skipRest consumes the rest of the array or object opened by d.
func skipRest(dec *json.Decoder, d json.Delim) error {
	if d != '{' && d != '[' {
		return errMCPShape
	}
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// checkMCP applies the route's tool rules and policy to every message of
// an MCP request; the policy runs once per message (with its MCPCall), or
// once with none for a request that carries no message.
func (v *Verifier) checkMCP(r *http.Request, c *Claims) *Error {
	calls, err := mcpCalls(r)
	if err != nil {
		return err
	}
	if len(calls) == 0 {
		calls = []MCPCall{{}}
	}
	for _, call := range calls {
		if call.Method == "tools/call" {
			if rule := v.resource.tools.rule(call.Tool); rule != nil {
				if len(rule.Scopes) > 0 && !c.HasScopes(rule.Scopes...) {
					return &Error{kind: ErrInsufficientScope, desc: "insufficient scope", scopes: rule.Scopes}
				}
				if rule.Policy != nil {
					if err := v.runPolicy(rule.Policy, r, c, call); err != nil {
						return err
					}
				}
			}
		}
		if v.route.Policy != nil {
			if err := v.runPolicy(v.route.Policy, r, c, call); err != nil {
				return err
			}
		}
	}
	return nil
}

// ToolAllowed reports whether the token with claims c may call tool on v's
// route (its tool rule's scopes and policy): for filtering a tools/list
// answer (jwtmcp.FilterTools). r is the request the list came in; a tool
// without a rule is allowed.
func (v *Verifier) ToolAllowed(r *http.Request, c *Claims, tool string) bool {
	if v.resource == nil {
		return true
	}
	rule := v.resource.tools.rule(tool)
	if rule == nil {
		return true
	}
	if c == nil {
		return false
	}
	if r == nil {
		r = &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/"}, Header: http.Header{}}
	}
	if len(rule.Scopes) > 0 && !c.HasScopes(rule.Scopes...) {
		return false
	}
	return rule.Policy == nil || v.runPolicy(rule.Policy, r, c, MCPCall{Method: "tools/call", Tool: tool}) == nil
}
