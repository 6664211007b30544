package budget_test

import (
	"testing"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/budget/budgettest"
)

// The Budget contract suite, against Local on the suite's clock.
func TestLocalContract(t *testing.T) {
	budgettest.Run(t, func(t testing.TB, cfg budgettest.Config) budgettest.Store {
		b, err := budget.NewLocal(budget.LocalConfig{Limit: cfg.Limit, Window: cfg.Window, Now: cfg.Now})
		if err != nil {
			t.Fatal(err)
		}
		return budgettest.Store{Budget: b}
	})
}
