package budget_test

import (
	"errors"
	"math"
	"testing"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/llmusage"
)

func TestCost(t *testing.T) {
	u := llmusage.Usage{Input: 1000, Output: 200, CachedInput: 800, CacheWrite: 100}
	if got := budget.DefaultWeights().Cost(u); got != 1200 {
		t.Errorf("default cost %d, want input + output = 1200", got)
	}
	w := budget.Weights{Input: 1, Output: 4, CachedInput: 0.1, CacheWrite: 1.25}
	// 100 uncached + 800 output + 80 cached + 125 written = 1105
	if got := w.Cost(u); got != 1105 {
		t.Errorf("weighted cost %d", got)
	}
	if got := (budget.Weights{Input: 0.001}).Cost(llmusage.Usage{Input: 1}); got != 1 {
		t.Errorf("a fraction rounds up: %d", got)
	}
	if got := (budget.Weights{Output: 1e6}).Cost(llmusage.Usage{Output: 3 * llmusage.MaxTokens}); got != budget.MaxLimit {
		t.Errorf("no overflow: %d", got)
	}
	table := budget.WeightTable{
		"gpt-4o":  {Input: 2, Output: 8},
		"gpt-4o*": {Input: 3, Output: 3},
		"claude*": {Input: 1, Output: 5},
		"*":       {Input: 1, Output: 1},
	}
	for model, want := range map[string]string{
		"gpt-4o": "gpt-4o", "gpt-4o-mini": "gpt-4o*", "claude-sonnet-4-5": "claude*", "llama": "*", "": "*",
	} {
		if _, got := table.Lookup(model); got != want {
			t.Errorf("Lookup(%q) = %q, want %q", model, got, want)
		}
	}
	if got := table.Cost("gpt-4o", llmusage.Usage{Input: 10, Output: 1}); got != 28 {
		t.Errorf("table cost %d", got)
	}
	if _, label := (budget.WeightTable(nil)).Lookup("x"); label != "" {
		t.Errorf("nil table label %q", label)
	}
	for _, bad := range []budget.Weights{{Input: -1}, {Output: math.NaN()}, {CachedInput: math.Inf(1)}, {CacheWrite: 1e7}} {
		if err := (budget.WeightTable{"m": bad}).Validate(); !errors.Is(err, budget.ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v", bad, err)
		}
	}
}
