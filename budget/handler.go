package budget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jwtgate/jwtgate/llmusage"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Defaults for Config.
const (
	// DefaultFallbackCost is charged for a response whose usage is
	// unknown when Config.Fallback.Estimate is 0.
	DefaultFallbackCost = 1000
	// DefaultChargeTimeout bounds a Charge after the response.
	DefaultChargeTimeout = 2 * time.Second
)

// Fallback is what a response costs when its usage cannot be read (the
// client cut the stream, the upstream answered 5xx, a body without
// usage, an encoded body). The charge is the largest of: Estimate, the
// request's max_tokens (when UseMaxTokens), and what the upstream had
// reported before the stream ended (Anthropic sends the input count
// first). Never zero: a client cannot make a request free by hanging up.
type Fallback struct {
	// Estimate is charged when nothing better is known. 0 means
	// DefaultFallbackCost (1000); negative is a config error.
	Estimate int64
	// UseMaxTokens charges at least the request's max_tokens
	// (max_completion_tokens, max_output_tokens), read from the request
	// body (up to MaxRequestBody). It is a floor, not a ceiling: a
	// request asking for max_tokens 1 still pays Estimate.
	UseMaxTokens bool
}

// Config configures NewHandler. Budget, or TierClaim with Tiers, must be
// set; every other field has a default.
type Config struct {
	// Budget is the default budget. Nil: requests whose tier is not in
	// Tiers are not budgeted.
	Budget Budget
	// TierClaim names a string claim (for example "plan") whose value
	// picks a budget from Tiers. "": no tiers.
	TierClaim string
	// Tiers maps TierClaim values to budgets; a missing claim or a value
	// not in the map uses Budget.
	Tiers map[string]Budget
	// Key names the budget a request spends from. Nil: DefaultKey (issuer
	// and subject). A request without claims, or whose key is "", is not
	// budgeted (KindNoKey).
	Key func(c *middleware.Claims, r *http.Request) string
	// Format is the upstream's API. FormatUnknown (0): from the request
	// path (llmusage.FormatForPath); a path it does not know is charged
	// the fallback, reported "unknown_format".
	Format llmusage.Format
	// TenantClaim names a claim (for example "org"; its text as
	// middleware.Claims.String reads it) whose value is the tenant a
	// request also spends from, in Tenant: a tenant whose budget is spent
	// is refused even for a subject with budget left. A token without the
	// claim (or with an empty one, or an object) is refused with 403
	// access_denied (ErrNoTenant): charging its subject alone would let it
	// escape the tenant's cap. "": no tenants.
	TenantClaim string
	// Tenant is the tenants' budget, one key per issuer and tenant.
	// Required with TenantClaim, and only with it.
	Tenant Budget
	// Route, when not nil, is one budget every request of the route spends
	// from together (key RouteKey): a cap on the route as a whole.
	Route Budget
	// Weights prices tokens per model, for the default Cost and the
	// Event's Model label. Nil: DefaultWeights for every model.
	Weights WeightTable
	// Prices, when not nil, prices responses in a currency from a table of
	// list prices, and every budget counts Micros of it (Fallback.Estimate
	// and max_tokens are then token counts priced as output tokens of the
	// model; ErrorCost and NoUsageCost are Micros). It excludes Weights and
	// Cost. The table is copied; SetPrices replaces it for later requests.
	Prices *PriceTable
	// Cost prices a response's usage. Nil: Weights.Cost.
	Cost Cost
	// Fallback prices a response whose usage is unknown.
	Fallback Fallback
	// ErrorCost is what an upstream error answer (status 400 or above)
	// that carries no usage costs: providers do not bill refused calls
	// (429, 529, 5xx, a bad request), and an SDK retrying one must not
	// pay the fallback on every attempt. 0 (the default) charges
	// nothing; usage the answer does carry is charged as usual.
	ErrorCost int64
	// NoUsageCost is what a call with no usage concept costs — listing
	// models, counting tokens (llmusage.NoUsagePath) — which would
	// otherwise be charged the fallback. 0 (the default) charges nothing.
	NoUsageCost int64
	// IncludeUsage adds stream_options.include_usage to an OpenAI Chat
	// Completions request that streams without it (otherwise such a
	// stream reports no usage and is charged the fallback). The client
	// then receives the extra usage chunk (empty choices), unless
	// StripAddedUsage. Only stream_options changes; every other byte of
	// the body is passed on as sent.
	IncludeUsage bool
	// StripAddedUsage removes, from a stream whose request IncludeUsage
	// changed, the usage chunk the client did not ask for (after the tap
	// has read it; every other event passes byte for byte as it
	// completes). False: the client sees it. Since that makes the body
	// shorter than the upstream's, such a stream reaches the client
	// without the upstream's Content-Length, ETag or digests
	// (Content-Digest, Repr-Digest, Digest, Content-MD5), chunked.
	StripAddedUsage bool
	// MaxRequestBody bounds the request body read for UseMaxTokens and
	// IncludeUsage; a longer body is passed on untouched and unread.
	// 0 means llmusage.DefaultMaxRequestBody (1 MiB).
	MaxRequestBody int
	// MaxBody and MaxEvent bound what the tap keeps of a JSON body and of
	// one event (llmusage.TapConfig). 0 means 1 MiB each.
	MaxBody, MaxEvent int
	// Shadow measures without refusing: an exhausted budget is reported
	// (KindRefused, Shadow set) and the request goes on; charges are made
	// as usual, so the numbers are the real ones. For rolling out.
	Shadow bool
	// WriteError answers a refused request. It gets an error for which
	// errors.Is(err, middleware.ErrBudgetExhausted) holds (429) or, when the
	// budget failed, middleware.ErrLimiterUnavailable (503). Nil:
	// middleware.WriteError. Pass a Verifier's WriteError to keep its
	// realm and ErrorHandler. The RateLimit-* and Retry-After headers of
	// a 429 are the budget's whatever the writer sets.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
	// ChargeTimeout bounds the Charge after the response; it runs even
	// when the client has gone. 0 means 2s.
	ChargeTimeout time.Duration
	// Observer, when not nil, is called for every budget step, on the
	// request's goroutine: fast and safe for concurrent use. Nil: no calls.
	Observer func(Event)
}

// Handler checks a budget before a request reaches the upstream and
// charges the response's usage after it, behind a jwtgate Verifier (it
// reads the verified claims from the request's context).
//
// Per request: Check (a spent budget answers 429 with Retry-After at the
// window's end and the budget's RateLimit-* headers, and next is not
// called); then next runs with a ResponseWriter that passes every byte on
// at once (Flush included, for server-sent events) and copies it to an
// llmusage.Tap; when next returns, the usage read is priced and charged,
// or the Fallback when there is none. The request that crosses the
// budget's line completes and is charged in full; the next one is
// refused.
//
// When it reads the request body (IncludeUsage, Fallback.UseMaxTokens), it
// reads members by their exact names, and a body that upstreams would
// read in different ways is refused with 400 invalid_request before the
// upstream (in shadow mode, reported and passed on untouched): a member it
// reads given twice or spelt in another letter case ("Stream_Options",
// which Go's encoding/json takes for stream_options and a Python upstream
// ignores), or a "stream" that is not a boolean (llmusage.ParseRequest).
// Otherwise a client could stream from a strict-name upstream without
// usage and be charged only the fallback.
//
// The upstream is asked for Accept-Encoding: identity so that the tap can
// read the body. Its zero value is not usable; use NewHandler. It is safe
// for concurrent use.
type Handler struct {
	cfg    Config
	prices atomic.Pointer[PriceTable] // nil: weights; read once per request
}

// NewHandler validates cfg and fills its defaults.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Budget == nil && len(cfg.Tiers) == 0 {
		return nil, &ConfigError{Field: "Budget", Reason: "set Budget or Tiers"}
	}
	if len(cfg.Tiers) > 0 && cfg.TierClaim == "" {
		return nil, &ConfigError{Field: "TierClaim", Reason: "Tiers set without TierClaim"}
	}
	for name, b := range cfg.Tiers {
		if b == nil {
			return nil, &ConfigError{Field: "Tiers[" + name + "]", Reason: "is nil"}
		}
	}
	if cfg.Format > llmusage.AnthropicMessages {
		return nil, &ConfigError{Field: "Format", Reason: "unknown format"}
	}
	if err := cfg.Weights.Validate(); err != nil {
		return nil, err
	}
	switch {
	case (cfg.TenantClaim == "") != (cfg.Tenant == nil):
		return nil, &ConfigError{Field: "TenantClaim, Tenant", Reason: "set both or neither"}
	case cfg.Prices != nil && (len(cfg.Weights) > 0 || cfg.Cost != nil):
		return nil, &ConfigError{Field: "Prices", Reason: "prices a currency budget: set Weights or Cost for a token budget, not both"}
	}
	var prices *PriceTable
	if cfg.Prices != nil {
		p, err := copyPrices(*cfg.Prices)
		if err != nil {
			return nil, err
		}
		prices, cfg.Prices = p, nil
	}
	switch {
	case cfg.ErrorCost < 0 || cfg.ErrorCost > MaxLimit || cfg.NoUsageCost < 0 || cfg.NoUsageCost > MaxLimit:
		return nil, &ConfigError{Field: "ErrorCost, NoUsageCost", Reason: "must be from 0 to MaxLimit"}
	case cfg.Fallback.Estimate < 0 || cfg.Fallback.Estimate > MaxLimit:
		return nil, &ConfigError{Field: "Fallback.Estimate", Reason: "must be from 0 to MaxLimit"}
	case cfg.Fallback.Estimate == 0:
		cfg.Fallback.Estimate = DefaultFallbackCost
	}
	if cfg.MaxRequestBody < 0 || cfg.MaxBody < 0 || cfg.MaxEvent < 0 || cfg.ChargeTimeout < 0 {
		return nil, &ConfigError{Field: "MaxRequestBody, MaxBody, MaxEvent, ChargeTimeout", Reason: "must not be negative"}
	}
	if cfg.MaxRequestBody == 0 {
		cfg.MaxRequestBody = llmusage.DefaultMaxRequestBody
	}
	if cfg.ChargeTimeout == 0 {
		cfg.ChargeTimeout = DefaultChargeTimeout
	}
	if cfg.Key == nil {
		cfg.Key = DefaultKey
	}
	if cfg.WriteError == nil {
		cfg.WriteError = middleware.WriteError
	}
	if cfg.Cost == nil {
		cfg.Cost = cfg.Weights.Cost
	}
	cfg.Tiers = cloneTiers(cfg.Tiers)
	h := &Handler{cfg: cfg}
	h.prices.Store(prices)
	return h, nil
}

// copyPrices validates t and returns a copy that its caller's map cannot
// change.
func copyPrices(t PriceTable) (*PriceTable, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	t = t.Merge(nil, Price{})
	return &t, nil
}

// ErrNotPriced is SetPrices' error on a Handler made without Prices: its
// budgets count tokens, which a price table cannot turn into currency.
var ErrNotPriced = errors.New("budget: handler has no price table (Config.Prices)")

// SetPrices replaces the price table for requests that start after it
// returns (a reload): a request prices its usage with the table it
// started with, so a swap never changes a charge in flight. The currency
// must stay the same (the budgets count it). It validates and copies t.
func (h *Handler) SetPrices(t PriceTable) error {
	old := h.prices.Load()
	if old == nil {
		return ErrNotPriced
	}
	p, err := copyPrices(t)
	if err != nil {
		return err
	}
	if p.Currency != old.Currency {
		return &ConfigError{Field: "Prices.Currency", Reason: "a budget in " + old.Currency + " cannot be priced in " + p.Currency}
	}
	h.prices.Store(p)
	return nil
}

// Prices returns a copy of the current price table, false for a Handler
// of token budgets.
func (h *Handler) Prices() (PriceTable, bool) {
	p := h.prices.Load()
	if p == nil {
		return PriceTable{}, false
	}
	return p.Merge(nil, Price{}), true
}

func cloneTiers(m map[string]Budget) map[string]Budget {
	if m == nil {
		return nil
	}
	c := make(map[string]Budget, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// DefaultKey is the budget key of Config.Key nil: the token's issuer,
// "#", and middleware.DefaultRateLimitKey (the sub, else the prefixed azp
// or client_id), so the same sub from two issuers has two budgets. Unlike
// the rate limit's key the issuer is always there: the Handler does not
// know how many issuers the Verifier accepts, and a budget has no older
// keys to stay compatible with. "" when the token names no one.
func DefaultKey(c *middleware.Claims, r *http.Request) string {
	k := middleware.DefaultRateLimitKey(c, r)
	if k == "" {
		return ""
	}
	return c.Issuer + "#" + k
}

// Wrap returns next behind the budget: checked (a spent budget is
// answered with WriteError and next is not called), then metered and
// charged. Behind a Verifier whose route already checks the budget
// (middleware.Route.Budget = h), use Meter instead.
func (h *Handler) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFromContext(r.Context())
		p, err := h.check(w.Header(), r, c)
		if err != nil {
			h.cfg.WriteError(w, r, err)
			return
		}
		h.meter(w, r, next, p)
	})
}

// Meter returns next with its responses metered and charged, without the
// check before: for a route whose Verifier checks the budget itself
// (middleware.Route.Budget = h), so that the check is part of the
// Verifier's one verdict (its reason, its OnVerify event, the same answer
// for a decision about the route) and runs once.
func (h *Handler) Meter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What the Verifier's check worked out (CheckBudgetCarry), when it
		// was this Handler's.
		p, _ := middleware.BudgetCarried(r.Context()).(*plan)
		if p != nil && p.h != h {
			p = nil
		}
		h.meter(w, r, next, p)
	})
}

var _ middleware.BudgetCheck = (*Handler)(nil)

// CheckBudget checks, without charging, whether the subject of c may
// spend, and its tenant and the route when they have budgets: nil to go
// on (also for a request without claims or key, and in Shadow mode), an
// *ExhaustedError when any budget is spent, an error matching ErrNoTenant
// (403) for a token without the tenant claim, an error wrapping
// middleware.ErrLimiterUnavailable when a budget cannot say. It
// implements middleware.BudgetCheck.
func (h *Handler) CheckBudget(r *http.Request, c *middleware.Claims) error {
	return h.CheckBudgetHeader(nil, r, c)
}

var _ middleware.BudgetHeaderCheck = (*Handler)(nil)

// CheckBudgetHeader is CheckBudget that also writes what is left of each
// budget to hdr (when not nil), as the RateLimit-Policy and RateLimit
// fields, one member per level ("subject", "tenant", "route"). It
// implements middleware.BudgetHeaderCheck.
func (h *Handler) CheckBudgetHeader(hdr http.Header, r *http.Request, c *middleware.Claims) error {
	_, err := h.check(hdr, r, c)
	return err
}

var _ middleware.BudgetCarrier = (*Handler)(nil)

// CheckBudgetCarry is CheckBudgetHeader that also returns what the
// request spends from, worked out for the check, for Meter behind the
// Verifier (which carries it in the request's context) to charge without
// working it out again. It implements middleware.BudgetCarrier.
func (h *Handler) CheckBudgetCarry(hdr http.Header, r *http.Request, c *middleware.Claims) (any, error) {
	p, err := h.check(hdr, r, c)
	if p == nil {
		return nil, err // not a typed nil
	}
	return p, err
}

// check is CheckBudgetHeader, returning the request's plan (nil without
// claims).
func (h *Handler) check(hdr http.Header, r *http.Request, c *middleware.Claims) (*plan, error) {
	p := h.plan(r, c)
	s, tier := p.spends()
	if s == nil {
		return p, nil
	}
	if p.noTenant {
		h.observe(Event{Context: r.Context(), Kind: KindNoTenant, Level: LevelTenant, Tier: tier, Key: s[0].key, Err: ErrNoTenant})
		if !h.cfg.Shadow {
			return p, noTenantError{}
		}
	}
	got := make([]LevelDecision, 0, len(s))
	var refused *ExhaustedError
	for _, sp := range s {
		d, err := sp.b.Check(r.Context(), sp.key)
		if err != nil {
			h.observe(Event{Context: r.Context(), Kind: KindError, Level: sp.level, Tier: tier, Key: sp.key, Err: err})
			if !h.cfg.Shadow {
				return p, fmt.Errorf("%w: %w", middleware.ErrLimiterUnavailable, err)
			}
			continue
		}
		got = append(got, LevelDecision{Level: sp.level, Decision: d})
		if !d.Allowed {
			h.observe(Event{Context: r.Context(), Kind: KindRefused, Level: sp.level, Tier: tier, Key: sp.key, Decision: d})
			// The refusal that lasts longest is the one to wait for.
			if refused == nil || d.RetryAfter > refused.decision.RetryAfter {
				refused = &ExhaustedError{decision: d, level: sp.level}
			}
		}
	}
	setHeaders(hdr, s, got)
	if refused != nil && !h.cfg.Shadow {
		return p, refused
	}
	return p, nil
}

// subject returns the budget, key and tier the request spends from; a nil
// budget or an empty key means it is not budgeted.
func (h *Handler) subject(r *http.Request, c *middleware.Claims) (b Budget, key, tier string) {
	if c == nil {
		return nil, "", ""
	}
	b, tier = h.pick(c)
	return b, h.cfg.Key(c, r), tier
}

func (h *Handler) observe(e Event) {
	if h.cfg.Observer != nil {
		e.Shadow = h.cfg.Shadow
		h.cfg.Observer(e)
	}
}

func (h *Handler) pick(c *middleware.Claims) (Budget, string) {
	if h.cfg.TierClaim != "" {
		if t, ok := c.String(h.cfg.TierClaim); ok {
			if b, ok := h.cfg.Tiers[t]; ok {
				return b, t
			}
		}
	}
	return h.cfg.Budget, ""
}

// meter runs next with a writer that taps the response, then charges the
// subject what the upstream reported. p is what the check worked out for
// this request (nil: work it out here).
func (h *Handler) meter(w http.ResponseWriter, r *http.Request, next http.Handler, p *plan) {
	c, _ := middleware.ClaimsFromContext(r.Context())
	if p == nil || p.c != c {
		p = h.plan(r, c)
	}
	s, tier := p.spends()
	if s == nil {
		h.observe(Event{Context: r.Context(), Kind: KindNoKey, Tier: tier})
		next.ServeHTTP(w, r)
		return
	}
	key := s[0].key
	// The table this request is priced with, whatever a reload does
	// before it ends.
	prices := h.prices.Load()

	format := h.cfg.Format
	if format == llmusage.FormatUnknown {
		format, _ = llmusage.FormatForPath(r.URL.Path)
	}
	r, req, added, err := h.prepare(r, format)
	if err != nil {
		h.observe(Event{Context: r.Context(), Kind: KindInvalidRequest, Tier: tier, Format: format, Key: key, Err: err})
		if !h.cfg.Shadow {
			h.cfg.WriteError(w, r, &RequestError{err: err})
			return
		}
	}
	tw := &tapWriter{ResponseWriter: w, cfg: llmusage.TapConfig{Format: format, MaxBody: h.cfg.MaxBody, MaxEvent: h.cfg.MaxEvent},
		strip: added && h.cfg.StripAddedUsage}
	// Deferred: httputil.ReverseProxy ends a response it cannot finish
	// (the client left mid-stream) by panicking with http.ErrAbortHandler,
	// and that request has cost tokens too. The panic goes on after.
	defer h.charge(r, s, tier, format, tw, req, prices)
	next.ServeHTTP(tw, r)
}

// prepare makes the request the upstream gets: a shallow copy whose
// header asks for an unencoded answer, and whose body, when it must be
// read (max_tokens, include_usage), is read up to MaxRequestBody and put
// back. added reports that include_usage was put in the request.
//
// A body that upstreams read in different ways is an error
// (llmusage.ErrAmbiguousRequest), with the request to pass on untouched in
// shadow mode: what it reads is then not used.
func (h *Handler) prepare(r *http.Request, format llmusage.Format) (_ *http.Request, _ llmusage.Request, added bool, _ error) {
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	llmusage.RequestIdentity(r2.Header)
	var req llmusage.Request
	addUsage := h.cfg.IncludeUsage && format == llmusage.OpenAIChat
	if (!h.cfg.Fallback.UseMaxTokens && !addUsage) || r.Body == nil || r.Body == http.NoBody {
		return r2, req, false, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, int64(h.cfg.MaxRequestBody)+1))
	if err != nil || len(buf) > h.cfg.MaxRequestBody {
		// Too long (or a read error, which the upstream will see too):
		// pass on what was read and the rest, untouched.
		r2.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return r2, req, false, nil
	}
	r2.Body = readCloser{bytes.NewReader(buf), r.Body}
	req, err = llmusage.ParseRequest(buf, h.cfg.MaxRequestBody)
	if errors.Is(err, llmusage.ErrAmbiguousRequest) {
		return r2, llmusage.Request{}, false, err
	}
	if addUsage {
		if out, changed := llmusage.AddIncludeUsage(buf, h.cfg.MaxRequestBody); changed {
			added = true
			r2.Body = readCloser{bytes.NewReader(out), r.Body}
			r2.ContentLength = int64(len(out))
			r2.Header.Set("Content-Length", strconv.Itoa(len(out)))
		}
	}
	return r2, req, added, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (h *Handler) charge(r *http.Request, s []spend, tier string, format llmusage.Format, tw *tapWriter, req llmusage.Request, prices *PriceTable) {
	tw.end()
	e := Event{Context: r.Context(), Kind: KindCharged, Tier: tier, Format: format, Key: s[0].key}
	var u llmusage.Usage
	ok := false
	var tapErr error
	if tw.tap != nil {
		u, ok = tw.tap.Usage()
		tapErr = tw.tap.Err()
	}
	model := u.Model
	if model == "" {
		model = req.Model
	}
	// estimate prices a count of tokens the usage did not report.
	var (
		partial  int64
		estimate func(tokens int64) int64
		unknown  bool
	)
	if prices != nil {
		var p Price
		var known bool
		p, e.Model, known = prices.Lookup(model)
		unknown = !known
		partial = p.Cost(u)
		estimate = func(n int64) int64 { return p.Cost(llmusage.Usage{Output: min(n, llmusage.MaxTokens)}) }
	} else {
		_, e.Model = h.cfg.Weights.Lookup(model)
		partial = max(h.cfg.Cost(model, u), 0)
		estimate = func(n int64) int64 { return n }
	}
	e.Usage = u
	e.Capped = errors.Is(tapErr, llmusage.ErrCapped)
	switch {
	case ok:
		e.Cost = partial
		e.UnknownModel = unknown
	case tw.status >= 400 && r.Context().Err() == nil:
		// A refusal the provider does not bill.
		e.UpstreamError = tw.status
		e.Cost = max(partial, h.cfg.ErrorCost)
	case llmusage.NoUsagePath(r.Method, r.URL.Path) && r.Context().Err() == nil:
		e.Cost = max(partial, h.cfg.NoUsageCost)
	default:
		e.Fallback = fallbackReason(r, tw, tapErr)
		e.Cost = max(partial, estimate(h.cfg.Fallback.Estimate))
		if h.cfg.Fallback.UseMaxTokens {
			e.Cost = max(e.Cost, estimate(req.MaxTokens))
		}
		e.UnknownModel = unknown
	}
	// The request has happened: charge it even though the client may
	// have gone and taken r's context with it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.ChargeTimeout)
	defer cancel()
	// Every level pays the same cost, each in its own call on its own key
	// (one Redis key per call: cluster-safe without hash tags).
	for _, sp := range s {
		d, err := sp.b.Charge(ctx, sp.key, e.Cost)
		if err != nil {
			if e.Err == nil {
				e.Kind, e.Err, e.Level = KindError, err, sp.level
			}
			continue
		}
		if sp.level == LevelSubject {
			e.Decision = d
		}
		e.Budgets = append(e.Budgets, LevelDecision{Level: sp.level, Decision: d})
	}
	h.observe(e)
}

func fallbackReason(r *http.Request, tw *tapWriter, tapErr error) string {
	switch {
	case tw.status >= 500:
		return "upstream_error"
	case r.Context().Err() != nil:
		return "client_gone"
	case tw.encoded:
		return "encoded"
	case tw.tap == nil:
		return "no_response"
	case errors.Is(tapErr, llmusage.ErrIncomplete):
		return "incomplete"
	case errors.Is(tapErr, llmusage.ErrTooLarge):
		return "too_large"
	case errors.Is(tapErr, llmusage.ErrMalformed):
		return "malformed"
	case errors.Is(tapErr, llmusage.ErrInvalidUsage):
		return "invalid_usage"
	case errors.Is(tapErr, llmusage.ErrUnknownFormat):
		return "unknown_format"
	}
	return "no_usage"
}

// RequestError is the refusal of a request whose body upstreams would
// read in different ways (llmusage.ErrAmbiguousRequest, which it wraps).
// It matches middleware.ErrInvalidRequest, so WriteError answers 400
// invalid_request.
type RequestError struct {
	err error
}

func (e *RequestError) Error() string { return "budget: " + e.err.Error() }

// Unwrap returns the body's error.
func (e *RequestError) Unwrap() error { return e.err }

// Is makes errors.Is match middleware.ErrInvalidRequest.
func (e *RequestError) Is(target error) bool { return target == middleware.ErrInvalidRequest }

// ExhaustedError is the refusal of a request whose budget is spent. It
// matches ErrExhausted and middleware.ErrBudgetExhausted (so WriteError
// answers 429 budget_exhausted, not the rate limit's rate_limited) and
// carries the budget's Decision, read with the same
// method as middleware.Error's.
type ExhaustedError struct {
	decision ratelimit.Decision
	level    Level
}

// Level returns the budget that is spent (the one refusing longest when
// several are).
func (e *ExhaustedError) Level() Level { return e.level }

func (e *ExhaustedError) Error() string { return ErrExhausted.Error() }

// Is makes errors.Is match ErrExhausted and middleware.ErrBudgetExhausted.
func (e *ExhaustedError) Is(target error) bool {
	return target == ErrExhausted || target == middleware.ErrBudgetExhausted
}

// Decision returns the budget's decision.
func (e *ExhaustedError) Decision() (ratelimit.Decision, bool) { return e.decision, true }

// tapWriter passes every byte on to the client first and then copies it
// to the tap, which starts once the status and headers are known.
type tapWriter struct {
	http.ResponseWriter
	cfg     llmusage.TapConfig
	tap     *llmusage.Tap
	status  int
	encoded bool
	strip   bool                       // drop the usage chunk we asked for
	filter  *llmusage.UsageChunkFilter // set once a stripped stream starts
}

func (t *tapWriter) WriteHeader(code int) {
	if t.status == 0 && code >= 200 { // 1xx are interim: the real one follows
		t.status = code
		t.start()
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *tapWriter) start() {
	h := t.Header()
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		t.encoded = true // asked for identity and got this anyway
		return
	}
	cfg := t.cfg
	cfg.ContentType = h.Get("Content-Type")
	t.tap, _ = llmusage.NewTap(cfg) // cfg's limits were validated by NewHandler
	if t.strip && llmusage.IsEventStream(cfg.ContentType) {
		t.filter = llmusage.NewUsageChunkFilter(t.ResponseWriter, cfg.MaxEvent)
		dropByteBound(h)
	}
}

// byteBound are the headers that describe the upstream's exact bytes (an
// unencoded stream's, since an encoded one is not filtered): the filter
// may make the body shorter, so they must not reach the client. Without
// Content-Length the response goes chunked (HTTP/1.1) or ends with the
// connection (HTTP/1.0), and is whole either way.
var byteBound = []string{"Content-Length", "ETag", "Content-MD5", "Digest", "Content-Digest", "Repr-Digest"}

// dropByteBound removes the byteBound headers from h, and from the
// trailers h announces (httputil.ReverseProxy fills announced trailers in
// after the body; the server sends only announced ones).
func dropByteBound(h http.Header) {
	for _, k := range byteBound {
		h.Del(k)
	}
	announced := h.Values("Trailer")
	if len(announced) == 0 {
		return
	}
	var keep []string
	for _, v := range announced {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name != "" && !slices.ContainsFunc(byteBound, func(b string) bool { return strings.EqualFold(b, name) }) {
				keep = append(keep, name)
			}
		}
	}
	h.Del("Trailer")
	if len(keep) > 0 {
		h.Set("Trailer", strings.Join(keep, ", "))
	}
}

func (t *tapWriter) Write(p []byte) (int, error) {
	if t.status == 0 {
		t.WriteHeader(http.StatusOK)
	}
	var (
		n   int
		err error
	)
	if t.filter != nil {
		n, err = t.filter.Write(p)
	} else {
		n, err = t.ResponseWriter.Write(p)
	}
	if t.tap != nil {
		t.tap.Write(p[:n])
	}
	return n, err
}

// end writes out what the filter holds back (an event the stream ended
// in the middle of).
func (t *tapWriter) end() {
	if t.filter != nil {
		_ = t.filter.Close()
	}
}

// Flush keeps server-sent events flowing through the wrapper
// (httputil.ReverseProxy flushes after every write of a
// text/event-stream).
func (t *tapWriter) Flush() { _ = t.FlushError() }

// FlushError is what http.ResponseController calls.
func (t *tapWriter) FlushError() error {
	return http.NewResponseController(t.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writer's other
// capabilities (Hijack, deadlines).
func (t *tapWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
