package budget

import (
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"github.com/jwtgate/jwtgate/llmusage"
)

// Micros is an amount of a currency in millionths of its unit: 1 USD is
// Micros(1_000_000). Budgets priced in a currency count Micros, integers,
// so that a month of charges adds up exactly, with no float drift.
type Micros int64

// MaxPrice bounds a Price's fields: a million currency units per million
// tokens, three orders of magnitude above any model's list price. With
// counts capped at llmusage.MaxTokens the products fit 128 bits.
const MaxPrice Micros = 1_000_000 * 1_000_000

// ParseMicros reads a non-negative decimal amount of a currency ("2.50",
// "10", "0.075") exactly into Micros. More than six decimals, a sign, an
// exponent or anything but digits and one point is an error
// (ErrInvalidConfig): "0.0000001" would otherwise round to nothing, and a
// float would not be exact.
func ParseMicros(s string) (Micros, error) {
	bad := func(reason string) (Micros, error) {
		return 0, &ConfigError{Field: "amount " + strconv.Quote(s), Reason: reason}
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" && (!dot || frac == "") {
		return bad("want a decimal number such as 2.50")
	}
	if len(frac) > 6 {
		return bad("at most 6 decimals (micro-units)")
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return bad("want a decimal number such as 2.50")
			}
		}
	}
	w := int64(0)
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil || w > MaxLimit/1_000_000 {
			return bad(fmt.Sprintf("at most %d", int64(MaxLimit/1_000_000)))
		}
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	if w*1_000_000+f > MaxLimit {
		return bad(fmt.Sprintf("at most %d", int64(MaxLimit/1_000_000)))
	}
	return Micros(w*1_000_000 + f), nil
}

// String writes m as a decimal amount without trailing zeros ("2.5",
// "10"); ParseMicros reads it back.
func (m Micros) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	s := sign + strconv.FormatInt(int64(m)/1_000_000, 10)
	if f := int64(m) % 1_000_000; f != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", f), "0")
	}
	return s
}

// UnmarshalText is ParseMicros, for configuration files: YAML's 2.50 and
// "2.50" both arrive as the text, never through a float.
func (m *Micros) UnmarshalText(b []byte) error {
	v, err := ParseMicros(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalText is String.
func (m Micros) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Price is one model's list price per million tokens of each kind, in
// Micros of the table's currency: Price{Input: 2_500_000} is 2.50 per
// million input tokens. A zero CachedInput or CacheWrite means the Input
// price, a zero Reasoning the Output price: a forgotten field never makes
// tokens cheaper than the bill (providers bill reasoning as output). Input
// and Output must be set.
type Price struct {
	// Input prices uncached input tokens.
	Input Micros `json:"input" yaml:"input"`
	// CachedInput prices input tokens read from a prompt cache (OpenAI
	// cached_tokens, Anthropic cache_read_input_tokens).
	CachedInput Micros `json:"cached_input,omitempty" yaml:"cached_input,omitempty"`
	// CacheWrite prices input tokens written to a prompt cache (Anthropic
	// cache_creation_input_tokens).
	CacheWrite Micros `json:"cache_write,omitempty" yaml:"cache_write,omitempty"`
	// Output prices output tokens other than reasoning.
	Output Micros `json:"output" yaml:"output"`
	// Reasoning prices reasoning tokens (part of the output count).
	Reasoning Micros `json:"reasoning,omitempty" yaml:"reasoning,omitempty"`
}

func (p Price) valid() bool {
	for _, f := range []Micros{p.Input, p.CachedInput, p.CacheWrite, p.Output, p.Reasoning} {
		if f < 0 || f > MaxPrice {
			return false
		}
	}
	return p.Input > 0 && p.Output > 0
}

// Cost returns u priced at p, in Micros: each kind's tokens times its
// price per million, summed exactly (128-bit) and divided by a million
// once per charge, rounding half up; at most MaxLimit.
func (p Price) Cost(u llmusage.Usage) int64 {
	or := func(v, def Micros) uint64 {
		if v == 0 {
			v = def
		}
		return uint64(max(v, 0))
	}
	n := func(v int64) uint64 { return uint64(max(v, 0)) }
	reasoning := min(n(u.Reasoning), n(u.Output))
	terms := [...][2]uint64{
		{n(max(u.Input-u.CachedInput-u.CacheWrite, 0)), or(p.Input, 0)},
		{n(u.CachedInput), or(p.CachedInput, p.Input)},
		{n(u.CacheWrite), or(p.CacheWrite, p.Input)},
		{n(u.Output) - reasoning, or(p.Output, 0)},
		{reasoning, or(p.Reasoning, p.Output)},
	}
	var hi, lo uint64
	for _, t := range terms {
		h, l := bits.Mul64(t[0], t[1])
		var c uint64
		lo, c = bits.Add64(lo, l, 0)
		hi += h + c
	}
	// Round half up: add half the divisor before dividing.
	var c uint64
	lo, c = bits.Add64(lo, 500_000, 0)
	hi += c
	if hi >= 1_000_000 { // the quotient would not fit 64 bits
		return MaxLimit
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	if q >= MaxLimit {
		return MaxLimit
	}
	return int64(q)
}

// PriceTable prices models in a currency, for budgets counted in Micros of
// it. A model's price is its exact name's, else that of the longest
// "prefix*" entry that prefixes it ("gpt-4o*" for "gpt-4o-2024-08-06");
// a model no entry matches is charged Fallback and reported as unknown
// (Event.UnknownModel), never charged nothing. There is no "*" entry:
// that is Fallback.
//
// A table is a value: the Handler captures the table it will price a
// request with when the request starts (Handler.SetPrices swaps it for
// later requests only), so that a charge never depends on when a reload
// happened.
type PriceTable struct {
	// Currency is the ISO 4217 code the prices and the budgets are in
	// ("USD"). Required: three capital letters.
	Currency string `json:"currency" yaml:"currency"`
	// Version and Date say which list prices these are (Date as
	// YYYY-MM-DD, when they were checked). Informational.
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	Date    string `json:"date,omitempty" yaml:"date,omitempty"`
	// Models prices models by exact name or "prefix*".
	Models map[string]Price `json:"models" yaml:"models"`
	// Fallback prices a model Models does not know. Required: its Input
	// and Output must be positive.
	Fallback Price `json:"fallback" yaml:"fallback"`
}

// DefaultPricesVersion and DefaultPricesDate identify DefaultPrices.
const (
	DefaultPricesVersion = "2025-11.1"
	DefaultPricesDate    = "2025-11-01"
)

// cu is a unit of currency in Micros, for DefaultPrices' literals:
// untyped constant arithmetic makes 0.075*cu exactly 75000.
const cu = 1_000_000

// DefaultPrices returns the shipped table: OpenAI's and Anthropic's
// published list prices in USD per million tokens (standard tier, no
// batch discount, 5-minute cache writes; OpenAI bills no cache write and
// reasoning as output) for their common models, as of
// DefaultPricesDate. Prices change: override or extend it (the gateway's
// prices.models). Its Fallback is the highest standard price in the table
// (Claude Opus 4/4.1), so that an unknown model is never cheaper than a
// known one. A new copy every call.
func DefaultPrices() PriceTable {
	p := func(in, cached, write, out Micros) Price {
		return Price{Input: in, CachedInput: cached, CacheWrite: write, Output: out}
	}
	opus := p(15*cu, 1.50*cu, 18.75*cu, 75*cu)
	return PriceTable{
		Currency: "USD", Version: DefaultPricesVersion, Date: DefaultPricesDate,
		Models: map[string]Price{
			// OpenAI: cached input is read at a discount; writes are free,
			// so CacheWrite is the input price (OpenAI reports none).
			"gpt-4o*":           p(2.50*cu, 1.25*cu, 2.50*cu, 10*cu),
			"gpt-4o-2024-05-13": p(5*cu, 5*cu, 5*cu, 15*cu),
			"gpt-4o-mini*":      p(0.15*cu, 0.075*cu, 0.15*cu, 0.60*cu),
			"gpt-4.1*":          p(2*cu, 0.50*cu, 2*cu, 8*cu),
			"gpt-4.1-mini*":     p(0.40*cu, 0.10*cu, 0.40*cu, 1.60*cu),
			"gpt-4.1-nano*":     p(0.10*cu, 0.025*cu, 0.10*cu, 0.40*cu),
			"o3*":               p(2*cu, 0.50*cu, 2*cu, 8*cu),
			"o3-mini*":          p(1.10*cu, 0.55*cu, 1.10*cu, 4.40*cu),
			"o3-pro*":           p(20*cu, 20*cu, 20*cu, 80*cu),
			"o4-mini*":          p(1.10*cu, 0.275*cu, 1.10*cu, 4.40*cu),
			// Anthropic: cache reads at a tenth of input, 5-minute cache
			// writes at 1.25 times.
			"claude-opus-4*":     opus,
			"claude-opus-4-5*":   p(5*cu, 0.50*cu, 6.25*cu, 25*cu),
			"claude-sonnet-4*":   p(3*cu, 0.30*cu, 3.75*cu, 15*cu),
			"claude-3-7-sonnet*": p(3*cu, 0.30*cu, 3.75*cu, 15*cu),
			"claude-haiku-4-5*":  p(1*cu, 0.10*cu, 1.25*cu, 5*cu),
			"claude-3-5-haiku*":  p(0.80*cu, 0.08*cu, 1*cu, 4*cu),
			"claude-3-haiku*":    p(0.25*cu, 0.03*cu, 0.30*cu, 1.25*cu),
		},
		Fallback: opus,
	}
}

// Validate checks the currency, the model names and every price.
func (t *PriceTable) Validate() error {
	if len(t.Currency) != 3 || strings.ToUpper(t.Currency) != t.Currency ||
		strings.IndexFunc(t.Currency, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return &ConfigError{Field: "Prices.Currency", Reason: "want an ISO 4217 code such as USD"}
	}
	names := make([]string, 0, len(t.Models))
	for name := range t.Models {
		names = append(names, name)
	}
	sort.Strings(names) // one order for the messages
	for _, name := range names {
		if i := strings.IndexByte(name, '*'); name == "" || name == "*" || i >= 0 && i != len(name)-1 {
			return &ConfigError{Field: "Prices.Models[" + name + "]",
				Reason: "want a model name or a prefix ending in * (gpt-4o*); an unknown model's price is Fallback"}
		}
		if !t.Models[name].valid() {
			return &ConfigError{Field: "Prices.Models[" + name + "]", Reason: priceReason}
		}
	}
	if !t.Fallback.valid() {
		return &ConfigError{Field: "Prices.Fallback", Reason: priceReason + "; an unknown model is never free"}
	}
	return nil
}

const priceReason = "input and output must be positive, every price at most 1000000 per million tokens"

// Lookup returns the price of model, the entry that matched (a bounded
// label for metrics) and whether one did: false means Fallback.
func (t *PriceTable) Lookup(model string) (Price, string, bool) {
	if p, ok := t.Models[model]; ok && model != "" && !strings.HasSuffix(model, "*") {
		return p, model, true
	}
	best := ""
	for name := range t.Models {
		if len(name) > 1 && name[len(name)-1] == '*' && len(name) > len(best) &&
			strings.HasPrefix(model, name[:len(name)-1]) {
			best = name
		}
	}
	if best != "" {
		return t.Models[best], best, true
	}
	return t.Fallback, "", false
}

// Cost prices u with model's price, or Fallback's; it is a Cost.
func (t *PriceTable) Cost(model string, u llmusage.Usage) int64 {
	p, _, _ := t.Lookup(model)
	return p.Cost(u)
}

// Merge returns a copy of t with the entries of models added or replaced,
// and fallback replacing t's when it is not zero: how a configuration
// extends DefaultPrices.
func (t PriceTable) Merge(models map[string]Price, fallback Price) PriceTable {
	m := make(map[string]Price, len(t.Models)+len(models))
	for k, v := range t.Models {
		m[k] = v
	}
	for k, v := range models {
		m[k] = v
	}
	t.Models = m
	if fallback != (Price{}) {
		t.Fallback = fallback
	}
	return t
}
