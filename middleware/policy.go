package middleware

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/jwtgate/jwtgate/forwarded"
)

// Policy is a route's own rule over the verified request, decided after the
// route's requirements (audiences, type, scopes, binding, step-up) and
// before the rate limit, on every request (a verified-token cache hit
// included). Package policy compiles CEL expressions into one; this package
// links no CEL. It must be safe for concurrent use.
type Policy interface {
	// Allow returns nil to let the request through. Any error refuses it
	// with 403 (reason "policy"): a rule that cannot be decided — an
	// absent claim, a runtime error — denies, never allows. The error's
	// text is for logs only; the client reads "denied by policy".
	Allow(in PolicyRequest) error
}

// PolicyRequest is what a Policy decides on.
type PolicyRequest struct {
	// Claims are the verified claims, never nil.
	Claims *Claims
	// Request is the request as the route judges it: the request itself,
	// or in the gateway's decision mode the original that a trusted proxy
	// describes (its method and clean path, the sub-request's headers).
	// Read only.
	Request *http.Request
	// Forwarded is the Verifier's trusted-proxy view: the only way to read
	// scheme, host or client address a proxy reports (Request's own
	// headers are the client's to set).
	Forwarded *forwarded.Resolver
	// MCP is the MCP call being decided, on a protected-resource route
	// (Route.Resource) whose requests are read for tool rules or a policy:
	// once per JSON-RPC message of the request. Zero elsewhere.
	MCP MCPCall
}

// allPolicies is the policy of a route derived from a route with a policy:
// both must allow.
type allPolicies []Policy

func (ps allPolicies) Allow(in PolicyRequest) error {
	for _, p := range ps {
		if err := p.Allow(in); err != nil {
			return err
		}
	}
	return nil
}

// joinPolicies returns a and b together, either alone when the other is nil.
func joinPolicies(a, b Policy) Policy {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	var all allPolicies
	for _, p := range []Policy{a, b} {
		if ps, ok := p.(allPolicies); ok {
			all = append(all, ps...)
		} else {
			all = append(all, p)
		}
	}
	return all
}

var errPolicyDenied = &Error{kind: ErrPolicyDenied, desc: "denied by policy"}

// runPolicy runs p on the request.
func (v *Verifier) runPolicy(p Policy, r *http.Request, c *Claims, call MCPCall) *Error {
	if err := p.Allow(PolicyRequest{Claims: c, Request: r, Forwarded: v.fw, MCP: call}); err != nil {
		if errors.Is(err, ErrPolicyDenied) {
			return errPolicyDenied
		}
		return &Error{kind: ErrPolicyDenied, desc: "denied by policy", cause: err}
	}
	return nil
}

// Map returns the claims decoded as JSON into a map (numbers as float64),
// decoded once per Claims and then shared: a policy evaluated on every
// cache hit does not decode the payload again. Treat it as read-only.
func (c *Claims) Map() (map[string]any, error) {
	if c.decoded != nil {
		if m := c.decoded.Load(); m != nil {
			return *m, nil
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(c.raw), &m); err != nil {
		return nil, err
	}
	if c.decoded != nil {
		// Two requests may decode at once; either result is the same.
		c.decoded.CompareAndSwap(nil, &m)
	}
	return m, nil
}
