// Package budgettest is the behaviour suite every [budget.Budget] runs:
// budget.Local and budget/redisbudget run it in their tests, and a budget
// of your own gets the same checks by calling [Run] from one test.
//
// The suite asks the store under test for a Limit and a Window of its
// choosing (a [Config]) and keeps the time: a manual clock, passed as
// Config.Now, that stands still until the suite moves it. It checks what
// the Budget interface and budget.Window document:
//
//   - a fresh key is allowed with its whole Limit remaining; Check spends
//     nothing, Charge spends its cost (0 spends nothing) and answers with
//     the state after it;
//   - a key is allowed while it has used less than its Limit; the charge
//     that crosses the line is made in full, and from then on Check refuses
//     with Remaining 0 and RetryAfter at the window's end;
//   - windows are the aligned UTC minute, hour, day and calendar month of
//     budget.Window.Bounds: ResetAfter is the time to the window's end, and
//     when it ends the key has its whole Limit again;
//   - a negative cost is budget.ErrInvalidCost and spends nothing;
//   - keys are independent, long keys included (distinct 8 KiB keys never
//     share a count);
//   - concurrent charges of one key add up exactly;
//   - a Check whose context has ended decides or returns an error wrapping
//     the context's with Allowed false; a Charge whose context has ended is
//     still made (the request it pays for has happened);
//   - every Decision is consistent: Limit is the budget's, Remaining within
//     [0, Limit], RetryAfter zero exactly when Allowed, CostExceedsLimit
//     and Degraded never set.
//
// # What a store must support
//
// NewFunc is called once per check (once per window for the window check)
// and must return a fresh, empty budget of cfg.Limit per cfg.Window, on a
// backend that is up: a Degraded decision fails the suite, so give a
// shared store a generous timeout. Budgets that share one backend must not
// see each other's keys (give each its own key prefix).
//
// Time: windows are computed from cfg.Now, which is all the time
// budget.Local and redisbudget need (Redis only expires old windows' keys,
// after they have ended): such a store returns no FastForward hook, and
// its times are checked to the microsecond. A store that also keeps time
// elsewhere returns a FastForward hook that makes it behave as if d more
// had passed; the suite calls it whenever it moves its clock, and checks
// that store's times to within [Slack].
//
// # Quick start
//
// In a _test.go file next to your budget:
//
//	func TestContract(t *testing.T) {
//		budgettest.Run(t, func(t testing.TB, cfg budgettest.Config) budgettest.Store {
//			b, err := mybudget.New(mybudget.Config{Limit: cfg.Limit, Window: cfg.Window, Now: cfg.Now})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return budgettest.Store{Budget: b}
//		})
//	}
//
// [Checks] lists the checks by name, each runnable on its own (a
// testing.TB, no subtests); this package's own tests run them against
// broken budgets to show each check fails for the budget it exists to
// catch.
package budgettest
