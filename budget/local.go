package budget

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jwtgate/jwtgate/budget/internal/usedmath"
	"github.com/jwtgate/jwtgate/internal/boundkey"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Defaults for LocalConfig.
const (
	DefaultMaxKeys     = 100_000
	DefaultMaxKeyBytes = 128
)

// LocalConfig configures NewLocal. Limit and Window must be set.
type LocalConfig struct {
	// Limit is how many tokens (cost units) a key may spend per Window.
	// Must be positive, at most MaxLimit.
	Limit int64
	// Window is the period Limit is spent over (PerMinute … PerMonth).
	Window Window
	// MaxKeys bounds how many keys are tracked; the least recently used
	// key is forgotten to admit a new one, and comes back with its whole
	// Limit. Size it above the keys active in one window. 0 means
	// 100,000.
	MaxKeys int
	// MaxKeyBytes bounds the bytes stored per key (a longer key is kept
	// as its SHA-256). 0 means 128.
	MaxKeyBytes int
	// Now is the clock the windows are computed from. nil means time.Now.
	Now func() time.Time
}

// Local is a Budget kept in this process. Each replica counts on its own:
// N replicas let a key spend N times its Limit (use redisbudget to share
// one). Memory is bounded by MaxKeys. It starts no goroutines. Its zero
// value is not usable; use NewLocal. It is safe for concurrent use.
type Local struct {
	limit   int64
	window  Window
	maxKeys int
	maxKey  int
	now     func() time.Time

	mu  sync.Mutex // guards m and lru
	m   map[string]*list.Element
	lru *list.List // of *localEntry, most recently used first
}

type localEntry struct {
	key   string
	start int64 // the window's start (Unix seconds) that used counts in
	used  int64
}

var _ Budget = (*Local)(nil)

// NewLocal validates cfg, fills its defaults and returns a budget.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if err := Validate(cfg.Limit, cfg.Window); err != nil {
		return nil, err
	}
	l := &Local{limit: cfg.Limit, window: cfg.Window, maxKeys: cfg.MaxKeys, maxKey: cfg.MaxKeyBytes, now: cfg.Now}
	switch {
	case l.maxKeys < 0:
		return nil, &ConfigError{Field: "MaxKeys", Reason: "must not be negative"}
	case l.maxKeys == 0:
		l.maxKeys = DefaultMaxKeys
	}
	switch {
	case l.maxKey < 0:
		return nil, &ConfigError{Field: "MaxKeyBytes", Reason: "must not be negative"}
	case l.maxKey == 0:
		l.maxKey = DefaultMaxKeyBytes
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.m = make(map[string]*list.Element)
	l.lru = list.New()
	return l, nil
}

// Limit returns the budget's Limit and Window.
func (l *Local) Limit() (int64, Window) { return l.limit, l.window }

// Check reports whether key has anything left in the current window.
func (l *Local) Check(ctx context.Context, key string) (ratelimit.Decision, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, fmt.Errorf("budget: %w", err)
	}
	return l.spend(key, 0), nil
}

// Charge spends cost from key's budget, overdrawing it if need be.
func (l *Local) Charge(ctx context.Context, key string, cost int64) (ratelimit.Decision, error) {
	if cost < 0 {
		return ratelimit.Decision{}, ErrInvalidCost
	}
	// A charge is for a request that has already happened: it is made
	// even when ctx has ended (the client went away), or budgets would
	// be free to anyone who hangs up.
	return l.spend(key, cost), nil
}

func (l *Local) spend(key string, cost int64) ratelimit.Decision {
	now := l.now()
	start, end := l.window.Bounds(now)
	key = boundkey.Bound(key, l.maxKey)
	l.mu.Lock()
	e := l.entry(key, cost > 0)
	used := int64(0)
	if e != nil {
		if e.start != start.Unix() {
			e.start, e.used = start.Unix(), 0
		}
		e.used = usedmath.AddSat(e.used, cost)
		used = e.used
	}
	l.mu.Unlock()
	return usedmath.Decide(l.limit, used, end.Sub(now))
}

// entry finds key's entry, making one when create is set (a Check of an
// unknown key needs none: it has used nothing).
func (l *Local) entry(key string, create bool) *localEntry {
	if el, ok := l.m[key]; ok {
		l.lru.MoveToFront(el)
		return el.Value.(*localEntry)
	}
	if !create {
		return nil
	}
	if l.lru.Len() >= l.maxKeys {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.m, old.Value.(*localEntry).key)
	}
	e := &localEntry{key: key}
	l.m[key] = l.lru.PushFront(e)
	return e
}

// Seed sets key's use in the current window to at least used, for a
// Redis budget's local fallback to start from what Redis last reported.
func (l *Local) Seed(key string, used int64) {
	now := l.now()
	start, _ := l.window.Bounds(now)
	key = boundkey.Bound(key, l.maxKey)
	l.mu.Lock()
	e := l.entry(key, true)
	if e.start != start.Unix() {
		e.start, e.used = start.Unix(), 0
	}
	e.used = max(e.used, used)
	l.mu.Unlock()
}
