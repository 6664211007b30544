package budget

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Level is which of a request's budgets an Event or a header is about: a
// request spends from its subject's budget, from its tenant's (with
// Config.TenantClaim) and from the route's (Config.Route) at once.
type Level uint8

const (
	// LevelSubject is the subject's budget (Config.Budget or its tier).
	LevelSubject Level = iota
	// LevelTenant is the tenant's budget (Config.Tenant).
	LevelTenant
	// LevelRoute is the one budget the whole route shares (Config.Route).
	LevelRoute
)

// String returns "subject", "tenant" or "route", fit for a metric label
// and the names in the RateLimit header fields.
func (l Level) String() string {
	switch l {
	case LevelSubject:
		return "subject"
	case LevelTenant:
		return "tenant"
	case LevelRoute:
		return "route"
	}
	return "unknown"
}

// RouteKey is the key the route-wide budget (Config.Route) is kept under.
const RouteKey = "route"

// ErrNoTenant is the refusal of a request whose token lacks the tenant
// claim (Config.TenantClaim) on a route with tenant budgets: the budget a
// tenant's requests are capped by cannot be found, and charging the
// subject alone would let any token without the claim escape the cap. It
// matches middleware.ErrPolicyDenied: 403 access_denied.
var ErrNoTenant = errors.New("budget: token has no tenant claim")

type noTenantError struct{}

func (noTenantError) Error() string { return ErrNoTenant.Error() }
func (noTenantError) Is(target error) bool {
	return target == ErrNoTenant || target == middleware.ErrPolicyDenied
}

// LevelDecision is one budget's state for one request.
type LevelDecision struct {
	Level    Level
	Decision ratelimit.Decision
}

// spend is one budget a request spends from.
type spend struct {
	level Level
	b     Budget
	key   string
}

// plan is what one request spends from, worked out once: by the check,
// and handed to the meter (Wrap; behind a Verifier whose route checks the
// budget, through the request's context, see CheckBudgetCarry), so that
// the subject's key, the tenant's and the list are not built again.
type plan struct {
	h        *Handler
	c        *middleware.Claims
	s        []spend // the subject's first; nil when the request is not budgeted (no key)
	tier     string
	noTenant bool // a token without the tenant claim on a route that needs one
	buf      [3]spend
}

// plan returns the budgets the request spends from; nil without claims.
func (h *Handler) plan(r *http.Request, c *middleware.Claims) *plan {
	if c == nil {
		return nil
	}
	b, key, tier := h.subject(r, c)
	p := &plan{h: h, c: c, tier: tier}
	if b == nil || key == "" {
		return p
	}
	p.s = append(p.buf[:0], spend{LevelSubject, b, key})
	if h.cfg.TenantClaim != "" {
		t, ok := c.String(h.cfg.TenantClaim)
		if !ok || t == "" {
			p.noTenant = true
		} else {
			// By issuer, as the subject: two issuers' "acme" are two tenants.
			p.s = append(p.s, spend{LevelTenant, h.cfg.Tenant, c.Issuer + "#" + t})
		}
	}
	if h.cfg.Route != nil {
		p.s = append(p.s, spend{LevelRoute, h.cfg.Route, RouteKey})
	}
	return p
}

// spends is p's list and tier; nil when p is.
func (p *plan) spends() ([]spend, string) {
	if p == nil {
		return nil, ""
	}
	return p.s, p.tier
}

// setHeaders writes what is left of each budget as the IETF RateLimit
// header fields (draft-ietf-httpapi-ratelimit-headers), one list member
// per level:
//
//	RateLimit-Policy: "subject";q=5000000;w=86400, "tenant";q=100000000;w=2592000
//	RateLimit: "subject";r=4200000;t=3600, "tenant";r=98000000;t=1209600
//
// q is the limit, r what is left, in the budget's units (tokens or Micros),
// t the seconds to the window's end, w the window's length when the budget
// says it (Local and redisbudget do).
func setHeaders(h http.Header, s []spend, got []LevelDecision) {
	if h == nil || len(got) == 0 || len(got) != len(s) {
		return
	}
	var pol, rem strings.Builder
	for i, g := range got {
		if i > 0 {
			pol.WriteString(", ")
			rem.WriteString(", ")
		}
		name := strconv.Quote(g.Level.String())
		pol.WriteString(name + ";q=" + strconv.Itoa(g.Decision.Limit))
		if w := windowOf(s[i].b); w > 0 {
			pol.WriteString(";w=" + strconv.FormatInt(int64(w/time.Second), 10))
		}
		rem.WriteString(name + ";r=" + strconv.Itoa(g.Decision.Remaining) +
			";t=" + strconv.FormatInt(int64((g.Decision.ResetAfter+time.Second-1)/time.Second), 10))
	}
	h.Set("RateLimit-Policy", pol.String())
	h.Set("RateLimit", rem.String())
}

// windowOf is the nominal length of b's window (a month is 30 days), 0
// when b does not say.
func windowOf(b Budget) time.Duration {
	if w, ok := b.(interface{ Limit() (int64, Window) }); ok {
		_, win := w.Limit()
		return win.length()
	}
	return 0
}
