package replay

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// Store records keys for a while and says whether a key is new.
//
// Add records key for ttl and reports fresh: true when key was not recorded
// (or its record had expired), false when it was. A store that cannot
// decide returns an error, and the caller must then refuse (or apply its
// own failure policy): an error is never a silent "fresh". ttl is a
// duration rather than a deadline so that a shared store can keep time by
// its own clock (Redis's PX), whatever the caller's clock says. It must be
// safe for concurrent use. Package replay/replaytest is this contract as a
// test suite, for any implementation.
type Store interface {
	Add(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error)
}

var (
	// ErrFull: a Memory store is at MaxEntries with no expired entry to
	// drop. Evicting a live entry would let its value be replayed, so the
	// store refuses to decide instead.
	ErrFull = errors.New("replay: store full")
	// ErrUnavailable: a shared store could not be reached and its failure
	// policy refuses to guess.
	ErrUnavailable = errors.New("replay: store unavailable")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("replay: store closed")
	// ErrInvalidConfig is wrapped by every configuration error.
	ErrInvalidConfig = errors.New("replay: invalid config")
	// ErrConfig is ErrInvalidConfig's former name: one name for the idea
	// in every jwtgate package.
	//
	// Deprecated: use ErrInvalidConfig.
	ErrConfig = ErrInvalidConfig
)

// DefaultMaxEntries bounds a Memory store whose MaxEntries is 0.
const DefaultMaxEntries = 100_000

const shards = 16

// MemoryConfig configures NewMemory.
type MemoryConfig struct {
	// MaxEntries bounds the live entries. 0 means DefaultMaxEntries. When
	// full, Add drops expired entries of the key's shard and, if none has
	// expired, returns ErrFull.
	MaxEntries int
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// Memory is a Store in process memory: sharded maps, entries expiring with
// their ttl (dropped as Add meets them; no goroutine), bounded by
// MaxEntries. Its zero value is not usable; use NewMemory. It is safe for
// concurrent use.
type Memory struct {
	seed     maphash.Seed
	perShard int
	now      func() time.Time
	shards   [shards]memShard
}

type memShard struct {
	mu sync.Mutex
	m  map[string]int64 // key → expiry (unix nanoseconds); guarded by mu
	// sweepAt is when the earliest entry may expire (unix nanoseconds):
	// until then, a full shard has nothing to sweep. Guarded by mu.
	sweepAt int64
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	if cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("%w: MaxEntries must not be negative", ErrInvalidConfig)
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Memory{seed: maphash.MakeSeed(), perShard: max(1, (cfg.MaxEntries+shards-1)/shards), now: cfg.Now}
	for i := range m.shards {
		m.shards[i].m = make(map[string]int64)
	}
	return m, nil
}

// Add implements Store. It never blocks on I/O; ctx is not used.
func (m *Memory) Add(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := m.now().UnixNano()
	until := now + int64(max(ttl, 0))
	s := &m.shards[maphash.String(m.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.m[key]; ok {
		if now < exp {
			return false, nil
		}
		delete(s.m, key)
	}
	if len(s.m) >= m.perShard {
		if now < s.sweepAt {
			return false, ErrFull
		}
		next := int64(1<<63 - 1)
		for k, exp := range s.m {
			if now >= exp {
				delete(s.m, k)
			} else {
				next = min(next, exp)
			}
		}
		s.sweepAt = next
		if len(s.m) >= m.perShard {
			return false, ErrFull
		}
	}
	s.m[key] = until
	s.sweepAt = min(s.sweepAt, until)
	if len(s.m) == 1 {
		s.sweepAt = until
	}
	return true, nil
}

// Len returns how many entries are held, expired ones not yet dropped
// included, for a metrics gauge.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
