package gateway

import (
	"errors"
	"slices"
)

// A sharedRes is something a config generation uses that may outlive it:
// a provider's key cache, a route's limiter or budget, the DPoP replay
// store, the Redis client, the upstream transport. Each is found by a key
// that holds every setting it was built from, so a reload whose new config
// builds the same key gets the same value back (its state, its goroutines,
// its connections) instead of a new one; whatever no generation holds any
// more is closed.
type sharedRes struct {
	key   string
	val   any
	close func() error // nil: nothing to close
	last  bool         // closed after the others (the Redis client, under its stores)
	refs  int          // generations holding it; guarded by Gateway.resMu
}

// resources is the gateway's table of resources by key. The zero value is
// not usable: see newResources.
type resources struct {
	m      map[string]*sharedRes // guarded by Gateway.resMu
	closed bool                  // Close has run: nothing is handed out any more
}

// hold returns the value under key, adding gen as a holder, and makes it
// with mk when no generation holds it. name is what reload events and
// logs call it: a key may hold a password. mk runs without the lock (it may
// start a cache); reloads are serialized, so no two makers of one key
// race.
func (gen *generation) hold(key, name string, mk func() (val any, close func() error, last bool, err error)) (any, error) {
	g := gen.g
	g.resMu.Lock()
	if g.res.closed {
		g.resMu.Unlock()
		return nil, ErrClosed
	}
	if r, ok := g.res.m[key]; ok {
		r.refs++
		gen.held = append(gen.held, r)
		g.resMu.Unlock()
		gen.kept = append(gen.kept, name)
		return r.val, nil
	}
	g.resMu.Unlock()
	val, closeFn, last, err := mk()
	if err != nil {
		return nil, err
	}
	r := &sharedRes{key: key, val: val, close: closeFn, last: last, refs: 1}
	g.resMu.Lock()
	if g.res.closed {
		g.resMu.Unlock()
		if closeFn != nil {
			closeFn()
		}
		return nil, ErrClosed
	}
	g.res.m[key] = r
	gen.held = append(gen.held, r)
	g.resMu.Unlock()
	gen.made = append(gen.made, name)
	return val, nil
}

// releaseAll drops gen's hold on each of its resources and closes those
// no generation holds any more: stores before the client under them.
func (gen *generation) releaseAll() error {
	g := gen.g
	var done []*sharedRes
	g.resMu.Lock()
	for _, r := range gen.held {
		r.refs--
		if r.refs == 0 && g.res.m[r.key] == r {
			delete(g.res.m, r.key)
			done = append(done, r)
		}
	}
	gen.held = nil
	g.resMu.Unlock()
	return closeResources(done)
}

// closeAll closes every sharedRes whoever holds it, for Gateway.Close: a
// request still running on a generation then finds its keys closed (503),
// as it did before reloads existed.
func (g *Gateway) closeAll() error {
	g.resMu.Lock()
	g.res.closed = true
	var done []*sharedRes
	for _, r := range g.res.m {
		done = append(done, r)
	}
	clear(g.res.m)
	g.resMu.Unlock()
	return closeResources(done)
}

func closeResources(rs []*sharedRes) error {
	slices.SortStableFunc(rs, func(a, b *sharedRes) int {
		switch {
		case a.last == b.last:
			return 0
		case a.last:
			return 1
		}
		return -1
	})
	var errs []error
	for _, r := range rs {
		if r.close != nil {
			errs = append(errs, r.close())
		}
	}
	return errors.Join(errs...)
}
