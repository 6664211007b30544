package budget

import (
	"math"

	"github.com/jwtgate/jwtgate/llmusage"
)

// Cost turns a response's usage into what it charges a budget. model is
// the model the upstream reported (Usage.Model), or the request's when
// the upstream named none. It must not return a negative number; the
// Handler treats one as 0 and reports it.
type Cost func(model string, u llmusage.Usage) int64

// Weights price one model's tokens, in budget units per token. Uncached
// input is Input minus CachedInput minus CacheWrite; each kind has its
// own weight, as providers price them (cache reads at a tenth, Anthropic
// cache writes at 1.25 times the input price).
type Weights struct {
	Input       float64 `json:"input" yaml:"input"`
	Output      float64 `json:"output" yaml:"output"`
	CachedInput float64 `json:"cached_input" yaml:"cached_input"`
	CacheWrite  float64 `json:"cache_write" yaml:"cache_write"`
}

// DefaultWeights count tokens as they are: input + output, cached or not.
// A budget in "tokens" then means what it says; lower CachedInput to price
// cache hits as providers do.
func DefaultWeights() Weights { return Weights{Input: 1, Output: 1, CachedInput: 1, CacheWrite: 1} }

// Cost returns u priced at w, rounded up, at most MaxLimit.
func (w Weights) Cost(u llmusage.Usage) int64 {
	uncached := max(u.Input-u.CachedInput-u.CacheWrite, 0)
	c := float64(uncached)*w.Input + float64(u.Output)*w.Output +
		float64(u.CachedInput)*w.CachedInput + float64(u.CacheWrite)*w.CacheWrite
	switch {
	case math.IsNaN(c) || c <= 0:
		return 0
	case c >= MaxLimit:
		return MaxLimit
	}
	return int64(math.Ceil(c))
}

func (w Weights) valid() bool {
	for _, f := range []float64{w.Input, w.Output, w.CachedInput, w.CacheWrite} {
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e6 {
			return false
		}
	}
	return true
}

// WeightTable prices each model by name, for the gateway's YAML: the
// weights of the model's exact name, else of the longest name ending in
// "*" that prefixes it ("gpt-4o*" for "gpt-4o-2024-08-06"), else of "*",
// else DefaultWeights.
type WeightTable map[string]Weights

// Validate refuses negative, NaN, infinite or absurd (> 1e6) weights.
func (t WeightTable) Validate() error {
	for name, w := range t {
		if !w.valid() {
			return &ConfigError{Field: "Weights[" + name + "]", Reason: "weights must be finite, from 0 to 1e6"}
		}
	}
	return nil
}

// Lookup returns the weights for model and the table entry that matched
// ("" for DefaultWeights), a bounded label for metrics.
func (t WeightTable) Lookup(model string) (Weights, string) {
	if w, ok := t[model]; ok && model != "" {
		return w, model
	}
	best := ""
	for name := range t {
		if len(name) > 1 && name[len(name)-1] == '*' && len(name) > len(best) &&
			len(model) >= len(name)-1 && model[:len(name)-1] == name[:len(name)-1] {
			best = name
		}
	}
	if best != "" {
		return t[best], best
	}
	if w, ok := t["*"]; ok {
		return w, "*"
	}
	return DefaultWeights(), ""
}

// Cost prices u with the model's weights; it is a Cost.
func (t WeightTable) Cost(model string, u llmusage.Usage) int64 {
	w, _ := t.Lookup(model)
	return w.Cost(u)
}
