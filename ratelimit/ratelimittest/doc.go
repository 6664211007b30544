// Package ratelimittest is the behaviour suite every [ratelimit.Limiter]
// runs: ratelimit.Local and ratelimit/redislimit run it in their tests, and
// a limiter of your own gets the same checks by calling [Run] from one test.
//
// The suite asks the store under test for limits of its choosing (a
// [Config]) and keeps the time: a manual clock, passed as Config.Now, that
// stands still until the suite moves it. It checks what the Limiter
// interface documents:
//
//   - a fresh key is allowed up to the burst, Remaining counting down and
//     ResetAfter growing by one refill interval a unit; past it Allowed is
//     false, Remaining 0 and RetryAfter the time to the next unit;
//   - waiting RetryAfter is enough and waiting less is not; an idle key
//     refills to the burst, never beyond;
//   - a cost above one spends that many, a refused request spends nothing,
//     a cost of zero spends nothing and reports the key's state;
//   - a cost above the burst is refused with CostExceedsLimit, never an
//     error, and spends nothing; a negative cost is ratelimit.ErrInvalidCost;
//   - keys are independent, long keys included (distinct 8 KiB keys never
//     share a bucket);
//   - concurrent Allow calls on one key admit exactly the burst;
//   - a call whose context has ended either decides as usual or returns
//     the context's error with Allowed false;
//   - every Decision is consistent: Limit is the burst, Remaining within
//     [0, Limit], RetryAfter zero exactly when Allowed (and never zero
//     when not), and Degraded never set.
//
// # What a store must support
//
// NewFunc is called once per check (more for table checks) and must return
// a fresh, empty limiter enforcing cfg.Rate per cfg.Period with a bucket of
// cfg.Burst, on a backend that is up: a Degraded decision fails the suite,
// so give a shared store a generous timeout (seconds, not milliseconds,
// on a loaded CI machine). Stores that share one backend must not see each
// other's keys (give each its own key prefix).
//
// Time: a store that keeps time in process reads cfg.Now and needs nothing
// else; its times are checked to the microsecond. A store that keeps time
// elsewhere (Redis's TIME) returns a FastForward hook with it that makes
// the store behave as if d more had passed (for a GCRA store in Redis:
// move each key's stored arrival time back by d); the suite calls it
// whenever it moves its clock. Such a store's own clock keeps running
// while the suite does, so its times are checked to within [Slack]; the
// suite's limits refill at most one unit a minute, so a run of a few
// seconds moves no bucket by a whole unit.
//
// # Quick start
//
// In a _test.go file next to your limiter:
//
//	func TestContract(t *testing.T) {
//		ratelimittest.Run(t, func(t testing.TB, cfg ratelimittest.Config) ratelimittest.Store {
//			l, err := mylimiter.New(mylimiter.Config{Rate: cfg.Rate, Period: cfg.Period, Burst: cfg.Burst, Now: cfg.Now})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return ratelimittest.Store{Limiter: l}
//		})
//	}
//
// [Checks] lists the checks by name, each runnable on its own (a
// testing.TB, no subtests), so a test can also show that a broken store
// fails the check meant to catch it: this package's own tests do that.
package ratelimittest
