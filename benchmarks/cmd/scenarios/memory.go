package main

import (
	"context"
	"fmt"
	"log"
	"runtime"
	"strconv"
	"time"

	"github.com/jwtgate/jwtgate/ratelimit"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// liveHeap is the heap still in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// measure fills a structure built by build with n entries through add and
// reports the live heap it holds. Keys are made on the fly so that only the
// structure keeps them.
func measure(what string, n int, build func() (any, error), add func(s any, i int) error, held func(s any) int) (MemoryResult, error) {
	before := liveHeap()
	start := time.Now()
	s, err := build()
	if err != nil {
		return MemoryResult{}, err
	}
	for i := range n {
		if err := add(s, i); err != nil {
			return MemoryResult{}, fmt.Errorf("%s: entry %d: %w", what, i, err)
		}
	}
	secs := time.Since(start).Seconds()
	after := liveHeap()
	h := held(s)
	runtime.KeepAlive(s)
	r := MemoryResult{What: what, Entries: n, HeldEntries: h, Seconds: secs}
	if after > before {
		r.Bytes = after - before
	}
	if h > 0 {
		r.BytesPerEntry = float64(r.Bytes) / float64(h)
	}
	log.Printf("memory %-55s %8d offered, %8d held: %7.1f MiB (%4.0f B/entry) in %.1fs",
		what, n, h, float64(r.Bytes)/(1<<20), r.BytesPerEntry, secs)
	return r, nil
}

func runMemory(ctx context.Context, fx *fixture.Fixture, s settings) ([]MemoryResult, []string, error) {
	var out []MemoryResult
	subject := func(i int) string { return "user-" + strconv.Itoa(i) }
	for _, maxKeys := range []int{s.memoryN, 0} {
		what := fmt.Sprintf("ratelimit.Local, MaxKeys %d", maxKeys)
		if maxKeys == 0 {
			what = fmt.Sprintf("ratelimit.Local, MaxKeys default (%d)", ratelimit.DefaultMaxKeys)
		}
		r, err := measure(what, s.memoryN,
			func() (any, error) { return ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 10, MaxKeys: maxKeys}) },
			func(l any, i int) error {
				_, err := l.(*ratelimit.Local).Allow(ctx, subject(i), 1)
				return err
			},
			func(l any) int { return l.(*ratelimit.Local).Len() })
		if err != nil {
			return nil, nil, err
		}
		out = append(out, r)
	}
	tc, notes, err := tokenCacheMemory(ctx, fx, s)
	if err != nil {
		return nil, nil, err
	}
	return append(out, tc...), notes, nil
}
