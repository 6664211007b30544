package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// refreshCases are the libraries that fetch JWKS themselves (echojwt shares
// keyfunc's storage, so it is not repeated).
var refreshCases = []string{"keyfunc", "auth0", "jwx", "jwtgate_cold"}

const refreshDelay = 300 * time.Millisecond

// refreshConc keeps the 2 cores busy without a queue long enough to hide a
// 300 ms stall in the steady-state p99.
const refreshConc = 4

func runRefresh(ctx context.Context, fx *fixture.Fixture, s settings) ([]RefreshResult, error) {
	var out []RefreshResult
	alg := fixture.ES256
	defer fx.Server.SetDelay(0)
	defer fx.Server.SetMaxAge(3600)
	for _, name := range refreshCases {
		c, ok := cases.ByName(name)
		if !ok {
			continue
		}
		fx.Server.SetDelay(0)
		fx.Server.SetMaxAge(1)
		inst, err := c.New(ctx, fx, alg, cases.Options{Refresh: time.Second})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		srv, err := serve(inst.Handler)
		if err != nil {
			inst.Close()
			return nil, err
		}
		// From here on every fetch takes 300 ms.
		fx.Server.SetDelay(refreshDelay)
		_ = fx.Server.Recorded()
		fx.Server.Record(true)
		samples, err := drive(srv.url(), fx.Tokens[alg], refreshConc, 100*time.Millisecond, s.refreshDur)
		// Let a fetch still in flight finish so that it is recorded.
		time.Sleep(refreshDelay + 50*time.Millisecond)
		fx.Server.Record(false)
		srv.Close()
		inst.Close()
		if err != nil {
			return nil, err
		}
		var fetches []fixture.Fetch
		for _, f := range fx.Server.Recorded() {
			if f.Peer == name {
				fetches = append(fetches, f)
			}
		}
		r := RefreshResult{Case: name, Alg: alg, Requests: len(samples), Refreshes: len(fetches)}
		var steady, during []time.Duration
		for _, sm := range samples {
			if !sm.ok {
				r.Errors++
			}
			end := sm.start.Add(sm.dur)
			overlaps := false
			for _, f := range fetches {
				if sm.start.Before(f.End) && end.After(f.Start) {
					overlaps = true
					break
				}
			}
			if overlaps {
				during = append(during, sm.dur)
			} else {
				steady = append(steady, sm.dur)
			}
		}
		steady, during = sortedCopy(steady), sortedCopy(during)
		r.DuringRefresh = len(during)
		r.SteadyP99us = percentile(steady, .99)
		r.SteadyMaxus = percentile(steady, 1)
		r.DuringRefreshP99us = percentile(during, .99)
		r.DuringRefreshMaxus = percentile(during, 1)
		for _, d := range during {
			if d >= 250*time.Millisecond {
				r.Stalled++
			}
		}
		r.MeetsBar = r.Refreshes > 0 && r.Errors == 0 && r.DuringRefreshMaxus <= r.SteadyP99us+1000
		log.Printf("refresh %-13s fetches %d requests %d (during refresh %d) steady p99 %6.0fµs during refresh p99 %6.0fµs max %7.0fµs stalled %d errors %d",
			name, r.Refreshes, r.Requests, r.DuringRefresh, r.SteadyP99us, r.DuringRefreshP99us, r.DuringRefreshMaxus, r.Stalled, r.Errors)
		out = append(out, r)
	}
	return out, nil
}
