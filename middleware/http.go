package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Authenticate is Handler's work without calling the next handler, for
// adapters: it extracts and verifies the token, applies the route's scopes,
// forwards claims as headers (ClaimHeaders) and applies the rate limit,
// setting the RateLimit-* headers on w. It returns the claims, or an error
// to pass to v.WriteError. With Optional set, a request without a token
// returns (nil, nil).
func (v *Verifier) Authenticate(w http.ResponseWriter, r *http.Request) (*Claims, error) {
	c, _, err := v.authenticate(w, r, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// authenticate also returns the accepted DPoP proof's key thumbprint ("":
// not a DPoP request). When cc is not nil, the rate limit may make the
// claims' context there (see applyLimit).
func (v *Verifier) authenticate(w http.ResponseWriter, r *http.Request, cc **claimsCtx) (*Claims, string, *Error) {
	observe := v.cfg.OnVerify != nil
	var start time.Time
	if observe {
		start = time.Now()
	}
	if v.routeErr != nil {
		// A route With could not apply fails closed, with or without a
		// token.
		return nil, "", v.routeErr
	}
	cr, dpop, err := v.extractCredential(r)
	token := cr.token
	var (
		c        *Claims
		hit      bool
		alg      string
		kind     CredentialKind
		verified time.Duration
	)
	// One reading of the clock for the request: the token's instants and
	// the rate limit's bucket.
	now := v.cfg.Now()
	if err == nil {
		c, hit, kind, err = v.verifyCredential(r.Context(), cr, now, &alg)
	} else if err == errMissing && v.cfg.Optional && !v.route.requiresToken() {
		// Anonymous, but the client must still not pass its own claim
		// headers to the upstream as if they were verified. A route that
		// requires scopes or an audience requires a token, whatever
		// Optional says: letting an anonymous request through there would
		// fail open.
		v.stripClaimHeaders(r)
		if observe {
			v.cfg.OnVerify(VerifyEvent{Context: r.Context(), Reason: "ok", Anonymous: true, Duration: time.Since(start)})
		}
		return nil, "", nil
	}
	if err == nil {
		// After the verified-token cache, on every request: a hit skips
		// the token's signature, never the proof or the certificate.
		var proved bool
		if proved, err = v.checkBinding(w, r, token, dpop, c); err == nil && !proved {
			dpop = false
		}
	}
	if observe {
		verified = time.Since(start)
	}
	if err == nil && v.authz {
		err = v.authorize(w, r, c, cc, now)
	}
	if observe {
		v.cfg.OnVerify(VerifyEvent{Context: r.Context(), Reason: reasonOf(err), Err: errOrNil(err),
			Duration: verified, CacheHit: hit, Alg: alg, Kind: kind})
	}
	if err != nil {
		if dpop && !err.dpop {
			// The challenge's error goes on the scheme the request used.
			e := *err
			e.dpop = true
			err = &e
		}
		v.logReject(r, err)
		return nil, "", err
	}
	if dpop {
		return c, c.cnf.JKT, nil
	}
	return c, "", nil
}

// authorize applies what the route adds to a verified token: its
// audiences, its scopes, the claim headers and the rate limit. These come
// after the verified-token cache, so routes that differ only here share
// one cache entry and one signature check per token.
func (v *Verifier) authorize(w http.ResponseWriter, r *http.Request, c *Claims, cc **claimsCtx, now time.Time) *Error {
	if v.tokenChecks {
		if err := v.checkRouteToken(c); err != nil {
			return err
		}
	}
	if len(v.route.Scopes) > 0 && !c.HasScopes(v.route.Scopes...) {
		return &Error{kind: ErrInsufficientScope, desc: "insufficient scope", scopes: v.route.Scopes}
	}
	switch {
	case v.resource != nil && (v.resource.tools != nil || v.route.Policy != nil):
		// An MCP server's route: the tool rules and the policy see each
		// JSON-RPC message of the request.
		if err := v.checkMCP(r, c); err != nil {
			return err
		}
	case v.route.Policy != nil:
		if err := v.runPolicy(v.route.Policy, r, c, MCPCall{}); err != nil {
			return err
		}
	}
	if len(v.claimHeaders()) > 0 {
		v.forwardClaims(r, c)
	}
	if v.limit != nil {
		if err := v.applyLimit(w, r, c, v.limit, cc, now); err != nil {
			return err
		}
	}
	if v.route.Budget != nil {
		if v.budgetCarrier != nil && w != nil && cc != nil {
			carry, err := v.budgetCarrier.CheckBudgetCarry(w.Header(), r, c)
			if carry != nil && err == nil {
				if *cc == nil {
					*cc = new(claimsCtx) // in place of ContextWithClaims' value: no allocation more
				}
				(*cc).budget = carry
			}
			return budgetError(err)
		}
		if v.budgetHeader != nil && w != nil {
			return budgetError(v.budgetHeader.CheckBudgetHeader(w.Header(), r, c))
		}
		return budgetError(v.route.Budget.CheckBudget(r, c))
	}
	return nil
}

// budgetError turns a BudgetCheck's answer into the Verifier's error: a
// spent budget is ErrBudgetExhausted with the budget's decision, anything
// else it could not decide is ErrLimiterUnavailable (503): a budget that
// cannot be read never lets a request through by accident.
func budgetError(err error) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBudgetExhausted):
		e := &Error{kind: ErrBudgetExhausted, desc: "token budget exhausted", cause: err}
		if dd, ok := errors.AsType[decisionError](err); ok {
			if d, ok := dd.Decision(); ok {
				e.decision = &d
			}
		}
		return e
	case errors.Is(err, ErrPolicyDenied):
		return &Error{kind: ErrPolicyDenied, desc: "denied by budget", cause: err}
	}
	return &Error{kind: ErrLimiterUnavailable, desc: "temporarily unavailable", cause: err}
}

func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

func reasonOf(e *Error) string {
	if e == nil {
		return "ok"
	}
	return Reason(e)
}

func (v *Verifier) logReject(r *http.Request, err *Error) {
	l := v.cfg.Logger
	if !l.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	l.LogAttrs(r.Context(), slog.LevelDebug, "jwtgate: request rejected",
		slog.String("reason", Reason(err)),
		slog.String("description", err.desc),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path))
}

// Handler verifies every request before next runs: it answers a rejected
// request itself (through the ErrorHandler) and passes an accepted one on
// with the claims in its context (ClaimsFromContext).
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cc *claimsCtx
		c, jkt, err := v.authenticate(w, r, &cc)
		if err != nil {
			v.WriteError(w, r, err)
			return
		}
		if c != nil {
			var ctx context.Context
			if cc != nil {
				// The rate limit's header values live in it: one
				// allocation for both.
				cc.Context, cc.c = r.Context(), c
				ctx = cc
			} else {
				ctx = ContextWithClaims(r.Context(), c)
			}
			if jkt != "" {
				ctx = ContextWithDPoPThumbprint(ctx, jkt)
			}
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// RequireScopes returns middleware for a handler that already runs behind
// v.Handler (or an adapter): it answers 403 insufficient_scope unless the
// request's claims have every one of scopes, and 401 when there are no
// claims at all.
func (v *Verifier) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	scopes = slices.Clone(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFromContext(r.Context())
			var err *Error
			switch {
			case !ok:
				err = errMissing
			case !c.HasScopes(scopes...):
				err = &Error{kind: ErrInsufficientScope, desc: "insufficient scope", scopes: scopes}
			}
			if err != nil {
				// A second check after Handler: its rejection is an
				// event of its own.
				if v.cfg.OnVerify != nil {
					v.cfg.OnVerify(VerifyEvent{Context: r.Context(), Reason: Reason(err), Err: err, Recheck: true})
				}
				v.WriteError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
