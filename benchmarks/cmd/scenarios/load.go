package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// server serves h on a fresh loopback port until Close.
type server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Printf("serve: %v", err)
		}
	}()
	return s, nil
}

func (s *server) url() string { return "http://" + s.ln.Addr().String() + "/" }

func (s *server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

// sample is one request's timing.
type sample struct {
	start time.Time
	dur   time.Duration
	ok    bool
}

// drive sends requests with conc workers for dur (after warm) and returns
// every timed sample. Each worker keeps one keep-alive connection.
func drive(url, tok string, conc int, warm, dur time.Duration) ([]sample, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	begin := time.Now()
	measureFrom := begin.Add(warm)
	stop := measureFrom.Add(dur)
	per := make([][]sample, conc)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			for {
				t0 := time.Now()
				if t0.After(stop) {
					return
				}
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if t0.After(measureFrom) {
					per[w] = append(per[w], sample{start: t0, dur: time.Since(t0), ok: ok})
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	var all []sample
	for _, p := range per {
		all = append(all, p...)
	}
	return all, nil
}

func runLoad(ctx context.Context, fx *fixture.Fixture, s settings) ([]LoadResult, error) {
	var out []LoadResult
	for _, c := range cases.All() {
		if c.Framework == "" {
			continue // no HTTP layer: measured by the micro-benchmarks only
		}
		for _, alg := range fixture.Algs {
			inst, err := c.New(ctx, fx, alg, cases.Options{})
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", c.Name, alg, err)
			}
			srv, err := serve(inst.Handler)
			if err != nil {
				inst.Close()
				return nil, err
			}
			samples, err := drive(srv.url(), fx.Tokens[alg], s.loadConc, 200*time.Millisecond, s.loadDur)
			srv.Close()
			inst.Close()
			if err != nil {
				return nil, err
			}
			r := LoadResult{Case: c.Name, Alg: alg, Concurrency: s.loadConc, Requests: len(samples)}
			ds := make([]time.Duration, 0, len(samples))
			for _, sm := range samples {
				if !sm.ok {
					r.Errors++
				}
				ds = append(ds, sm.dur)
			}
			ds = sortedCopy(ds)
			r.RPS = float64(len(samples)) / s.loadDur.Seconds()
			r.P50us, r.P99us, r.P999us = percentile(ds, .50), percentile(ds, .99), percentile(ds, .999)
			log.Printf("load %-14s %-5s %8.0f req/s p50 %6.0fµs p99 %6.0fµs p999 %6.0fµs errors %d",
				c.Name, alg, r.RPS, r.P50us, r.P99us, r.P999us, r.Errors)
			out = append(out, r)
		}
	}
	return out, nil
}
