package budgettest_test

import (
	"fmt"
	"testing"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/budget/budgettest"
)

// A budget's test runs the suite with a NewFunc that builds the budget
// from the suite's Config. budget.Local computes its windows from
// Config.Now, as budget/redisbudget does: neither needs a FastForward hook.
func ExampleRun() {
	// In a _test.go file: func TestContract(t *testing.T) { budgettest.Run(t, newBudget) }
	newBudget := func(t testing.TB, cfg budgettest.Config) budgettest.Store {
		b, err := budget.NewLocal(budget.LocalConfig{Limit: cfg.Limit, Window: cfg.Window, Now: cfg.Now})
		if err != nil {
			t.Fatal(err)
		}
		return budgettest.Store{Budget: b}
	}
	_ = newBudget
}

// The checks a budget must pass, in the order Run runs them.
func ExampleChecks() {
	for _, c := range budgettest.Checks() {
		fmt.Println(c.Name)
	}
	// Output:
	// FreshKey
	// ChargeSpends
	// AllowedWhileUnderLimit
	// OverdrawnUntilWindowEnds
	// Windows
	// NegativeCost
	// KeysIndependent
	// LongKeys
	// ConcurrentChargesAddUp
	// ContextEnded
}
