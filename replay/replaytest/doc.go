// Package replaytest is the behaviour suite every [replay.Store] runs:
// replay.Memory and replay/redisreplay run it in their tests, and a store
// of your own gets the same checks by calling [Run] from one test.
//
// The suite keeps the time: a manual clock, passed as Config.Now, that
// stands still until the suite moves it. It checks what the Store
// interface documents:
//
//   - Add reports fresh once for a key, then not fresh for as long as the
//     ttl given with it, however often it is asked;
//   - once the ttl has passed (and not a moment before) the key is fresh
//     again; each key keeps the ttl it was added with;
//   - keys are independent, long keys included (distinct 8 KiB keys never
//     share a record);
//   - concurrent Adds of one key: exactly one is fresh; of distinct keys:
//     every one is;
//   - an Add whose context has ended either decides as usual or returns an
//     error wrapping the context's, and an error is never a silent fresh;
//   - with a live context, a healthy store never returns an error.
//
// # What a store must support
//
// NewFunc is called once per check and must return a fresh, empty store
// on a backend that is up (any error fails the suite, so give a shared
// store a generous timeout). Stores that share one backend must not see
// each other's keys (give each its own key prefix).
//
// Time: a store that keeps time in process reads cfg.Now and needs nothing
// else; it may expire a key up to a millisecond early (a millisecond
// clock). A store that keeps time elsewhere (Redis's PX) returns a
// FastForward hook that makes it behave as if d more had passed (for
// Redis: shorten each key's PTTL by d, deleting those that reach zero);
// the suite calls it whenever it moves its clock. Such a store's clock
// keeps running while the suite does, so its expiries are checked to
// within [Slack]; the suite's ttls are minutes long.
//
// # Quick start
//
// In a _test.go file next to your store:
//
//	func TestContract(t *testing.T) {
//		replaytest.Run(t, func(t testing.TB, cfg replaytest.Config) replaytest.Store {
//			st, err := mystore.New(mystore.Config{Now: cfg.Now})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return replaytest.Store{Store: st}
//		})
//	}
//
// [Checks] lists the checks by name, each runnable on its own (a
// testing.TB, no subtests); this package's own tests run them against
// broken stores to show each check fails for the store it exists to catch.
package replaytest
