package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/jwtgate/jwtgate/internal/boundkey"
	"github.com/jwtgate/jwtgate/ratelimit/internal/bucket"
)

// Defaults for LocalConfig.
const (
	DefaultMaxKeys     = 100_000
	DefaultLocalShards = 32
	maxLocalShards     = 1024
)

// LocalConfig configures NewLocal. The zero value is not usable: Rate must
// be set; every other field has a default.
type LocalConfig struct {
	// Rate is how many units a key earns per Period. Must be positive.
	Rate int
	// Period is the time over which Rate units are earned. 0 means one
	// second, so Rate is then "per second".
	Period time.Duration
	// Burst is the bucket size: the most units a key can spend at once,
	// and what a new key starts with. 0 means Rate.
	Burst int
	// MaxKeys bounds how many keys are tracked at once. 0 means 100,000.
	// When a shard is full, its least recently used key is forgotten; see
	// Local for what that means for the forgotten key.
	MaxKeys int
	// Shards is how many independently locked parts the keys are spread
	// over, so that concurrent callers rarely wait for each other. 0 means
	// 32; other values are rounded up to a power of two, at most 1024, and
	// lowered to fit MaxKeys.
	Shards int
	// MaxKeyBytes bounds the bytes stored per key: a longer key is kept
	// as its SHA-256 instead (33 bytes), which costs that call an
	// allocation and the hashing. 0 means 128.
	MaxKeyBytes int
	// Now is the clock. nil means time.Now.
	Now func() time.Time
	// Observer, when not nil, is called after every decision, on the
	// calling goroutine, with no lock held. It must be fast and safe for
	// concurrent use. nil means no calls.
	Observer func(Event)
}

// Local is an in-process Limiter: one token bucket per key, with
// golang.org/x/time/rate's arithmetic. A key earns Rate units per Period up
// to Burst, and a new key starts with a full bucket.
//
// Memory is bounded: at most MaxKeys keys are held, spread over shards that
// each hold an equal share and evict their least recently used key to admit
// a new one (so a shard may evict while another still has room), and a key
// is stored in at most MaxKeyBytes, copied (never a substring pinning the
// caller's larger string, such as a token's payload). A held key costs
// about 70 bytes plus its own bytes (its 48-byte entry, its 16-byte map
// slot in a table up to half empty, the copy of the key): 87 bytes for a
// 16-byte key, measured; so the default 100,000 keys of a few dozen bytes
// take about 9-12 MB, and a flood of distinct keys never takes more. A key that
// has been evicted comes back with a full bucket, as if it were new. That
// is harmless for a key idle long enough to have refilled (Burst/Rate
// periods), which is what the least recently used key usually is; a flood
// of more than MaxKeys active keys can, however, hand evicted keys fresh
// bursts, so size MaxKeys above the number of keys active within one refill
// time.
//
// Local starts no goroutines and needs no Close. Its zero value is not
// usable; use NewLocal. It is safe for concurrent use.
type Local struct {
	lim     bucket.Limit
	burst   float64 // lim.Burst
	perSec  float64 // lim.PerSec
	maxKey  int
	now     func() time.Time // nil: time.Now, read through time.Since
	epoch   time.Time        // buckets keep time as nanoseconds since epoch
	observe func(Event)
	seed    maphash.Seed
	mask    uint64
	shards  []shard
}

var _ Limiter = (*Local)(nil)

type shard struct {
	mu sync.Mutex // guards everything below
	// m is keyed by the key's seeded 64-bit hash, which picks the shard
	// too: one hash per call, where a map keyed by the string would hash
	// it again (and its slot would take 24 bytes, not 16). The entry's key
	// is compared on every look-up; two keys of one hash (a chance of
	// about n²/2⁶⁵ for n keys, and the seed is the process's secret) share
	// the entry as an eviction does: the newcomer takes it over with a full
	// bucket.
	m    map[uint64]*entry
	seed maphash.Seed // Local.seed, for the hash of an entry it evicts
	// lru is the sentinel of a circular list of the shard's entries:
	// lru.next is the most recently used, lru.prev the least.
	lru      entry
	capacity int
	_        [64]byte // keeps neighbouring shards' locks off one cache line
}

// entry is one held key: 48 bytes (one size class), against 112 when it
// held a rate.Limiter, whose own mutex, limit, burst and reservation time
// the shard already has once for all its keys.
type entry struct {
	key        string
	prev, next *entry
	// The bucket as x/time/rate keeps it: tokens held at last
	// (nanoseconds since Local.epoch).
	tokens float64
	last   int64
}

// entryBytes is the fixed part of what Local holds per key, its entry
// (a test checks it), beside which each key costs its map slot (a hash and
// a pointer, 16 bytes, in swiss tables kept at most 7/8 full and up to
// half empty just after growing) and its own bytes (at most MaxKeyBytes,
// rounded up to a size class).
const entryBytes = 48

// tokensAt returns what e holds at now: what it held at last and what it
// earned since, up to the burst. A now before last earns nothing (time
// never runs backwards for a bucket), as in x/time/rate.
func (l *Local) tokensAt(e *entry, now int64) float64 {
	elapsed := max(now-e.last, 0)
	return min(e.tokens+time.Duration(elapsed).Seconds()*l.perSec, l.burst)
}

// allowN spends n units of e at now if it holds them, as x/time/rate's
// AllowN does (n ≤ burst is the caller's check), and returns whether it did
// and the tokens e holds afterwards.
func (l *Local) allowN(e *entry, now int64, n int) (bool, float64) {
	tokens := l.tokensAt(e, now)
	left := tokens - float64(n)
	// x/time/rate allows a shortfall too small to be a nanosecond's wait.
	if left < 0 && time.Duration(-left/l.perSec*float64(time.Second)) > 0 {
		return false, tokens
	}
	e.tokens, e.last = left, now
	return true, left
}

// clock is the time now, as buckets keep it. With the default clock it is
// time.Since(epoch): epoch carries a monotonic reading, so Since reads only
// the monotonic clock, where time.Now().Sub would also read the wall clock
// it then ignores (a tenth of a limited hit's own instructions).
func (l *Local) clock() int64 {
	if l.now == nil {
		return int64(time.Since(l.epoch))
	}
	return int64(l.now().Sub(l.epoch))
}

// NewLocal validates cfg, fills its defaults and returns a ready limiter.
func NewLocal(cfg LocalConfig) (*Local, error) {
	lim, err := newLimit(cfg.Rate, cfg.Period, cfg.Burst)
	if err != nil {
		return nil, err
	}
	maxKeys := cfg.MaxKeys
	switch {
	case maxKeys < 0:
		return nil, &ConfigError{Field: "MaxKeys", Reason: "must not be negative"}
	case maxKeys == 0:
		maxKeys = DefaultMaxKeys
	}
	maxKey, err := maxKeyBytes(cfg.MaxKeyBytes)
	if err != nil {
		return nil, err
	}
	n := cfg.Shards
	switch {
	case n < 0:
		return nil, &ConfigError{Field: "Shards", Reason: "must not be negative"}
	case n == 0:
		n = DefaultLocalShards
	case n > maxLocalShards:
		n = maxLocalShards
	}
	n = 1 << bits.Len(uint(n-1)) // round up to a power of two
	for n > maxKeys {
		n >>= 1
	}
	l := &Local{
		lim:     lim,
		burst:   float64(lim.Burst),
		perSec:  float64(lim.PerSec),
		maxKey:  maxKey,
		now:     cfg.Now,
		observe: cfg.Observer,
		seed:    maphash.MakeSeed(),
		mask:    uint64(n - 1),
		shards:  make([]shard, n),
	}
	if l.now != nil {
		l.epoch = l.now()
	} else {
		l.epoch = time.Now()
	}
	for i := range l.shards {
		s := &l.shards[i]
		s.m = make(map[uint64]*entry)
		s.seed = l.seed
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		// Spread MaxKeys exactly, so the shards together never hold more.
		s.capacity = maxKeys / n
		if i < maxKeys%n {
			s.capacity++
		}
	}
	return l, nil
}

// Allow spends cost units of key's bucket if it holds that many, and says
// what is left. It never blocks on I/O and ignores ctx. A cost above the
// burst is refused with CostExceedsLimit (nothing is spent); a negative cost
// is ErrInvalidCost.
func (l *Local) Allow(_ context.Context, key string, cost int) (Decision, error) {
	if cost < 0 {
		return Decision{Limit: l.lim.Burst}, ErrInvalidCost
	}
	key = boundkey.Bound(key, l.maxKey)
	d := l.allowHashed(key, maphash.String(l.seed, key), cost, 0, false)
	if l.observe != nil {
		l.report(key, cost, d)
	}
	return d, nil
}

var _ LimiterAt = (*Local)(nil)

// AllowAt is Allow at now, the caller's own reading of time.Now, so that a
// caller that has one (the middleware reads the clock for every token's
// expiry) saves the limiter a second reading. A Local with a clock of its
// own (LocalConfig.Now) ignores now and reads that clock: readings of two
// clocks must never meet in one bucket.
func (l *Local) AllowAt(_ context.Context, key string, cost int, now time.Time) (Decision, error) {
	if cost < 0 {
		return Decision{Limit: l.lim.Burst}, ErrInvalidCost
	}
	key = boundkey.Bound(key, l.maxKey)
	h := maphash.String(l.seed, key)
	var d Decision
	if l.now != nil {
		d = l.allowHashed(key, h, cost, 0, false)
	} else {
		d = l.allowHashed(key, h, cost, int64(now.Sub(l.epoch)), true)
	}
	if l.observe != nil {
		l.report(key, cost, d)
	}
	return d, nil
}

func (l *Local) report(key string, cost int, d Decision) {
	o := OutcomeAllowed
	if !d.Allowed {
		o = OutcomeLimited
	}
	l.observe(Event{Backend: "local", Outcome: o, Key: key, Cost: cost, Decision: d})
}

// allowHashed decides for a bounded key and its hash h (a test passes
// colliding ones), at now if haveNow, else at its own reading of the clock.
func (l *Local) allowHashed(key string, h uint64, cost int, now int64, haveNow bool) Decision {
	s := &l.shards[h&l.mask]
	burst := l.lim.Burst

	if cost > burst {
		// Never allowed: report the key's state without tracking a new key.
		tokens := float64(burst)
		s.mu.Lock()
		if e := s.m[h]; e != nil && e.key == key {
			if !haveNow {
				now = l.clock()
			}
			tokens = l.tokensAt(e, now)
		}
		s.mu.Unlock()
		return tooCostly(l.lim, remaining(tokens), l.lim.Earn(float64(burst)-tokens))
	}

	s.mu.Lock()
	if !haveNow {
		// Read under the lock, so that callers reading their own clock
		// reach a bucket in the order of their readings.
		now = l.clock()
	}
	e := s.find(h, key, l.burst, now)
	if haveNow && now < e.last {
		// A reading made before another caller's, which reached the
		// bucket first: as of that caller's, or the time between the two
		// would be earned twice.
		now = e.last
	}
	ok, tokens := l.allowN(e, now, cost)
	s.mu.Unlock()

	d := Decision{
		Allowed:    ok,
		Limit:      burst,
		Remaining:  remaining(tokens),
		ResetAfter: l.lim.Earn(float64(burst) - tokens),
	}
	if !ok {
		d.RetryAfter = l.lim.Earn(float64(cost) - tokens)
	}
	return d
}

// find returns key's entry, admitting it with a full bucket at now when it
// is new, and makes it the most recently used. Called with s.mu held.
func (s *shard) find(h uint64, key string, burst float64, now int64) *entry {
	e := s.m[h]
	switch {
	case e == nil:
		return s.admit(h, key, burst, now)
	case e.key != key:
		// Another key of the same hash: this one takes the entry over,
		// as if the other had been evicted.
		e.key, e.tokens, e.last = strings.Clone(key), burst, now
	}
	if s.lru.next != e {
		s.unlink(e)
		s.pushFront(e)
	}
	return e
}

// SetEmptyAt sets key's bucket to what it would hold had it been empty at
// emptyAt (it has been earning since, up to the burst), tracking the key if
// it is new; an emptyAt after now means empty now. It is for a limiter that
// takes over from a shared store: the Redis limiter keeps its FailLocal
// fallback where Redis last said each key is, so an outage neither forgets
// what a key spent nor hands it a fresh burst.
func (l *Local) SetEmptyAt(key string, emptyAt time.Time) {
	key = boundkey.Bound(key, l.maxKey)
	h := maphash.String(l.seed, key)
	s := &l.shards[h&l.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	now := l.clock()
	// A bucket cannot owe more than empty: a later emptyAt (a key another
	// limit wrote with a bigger burst, float rounding) means empty now.
	at := min(int64(emptyAt.Sub(l.epoch)), now)
	e := s.find(h, key, l.burst, now)
	e.tokens, e.last = 0, at
}

// admit adds key with a full bucket at now, evicting the least recently
// used key when the shard is full (its entry is reused). The key is
// copied: the caller's may be a substring of something much larger (a
// token's payload, for a claim), which a held key would keep alive. Called
// with s.mu held.
func (s *shard) admit(h uint64, key string, burst float64, now int64) *entry {
	var e *entry
	if len(s.m) >= s.capacity {
		e = s.lru.prev
		s.unlink(e)
		delete(s.m, s.hash(e.key))
	} else {
		e = new(entry)
	}
	e.key, e.tokens, e.last = strings.Clone(key), burst, now
	s.m[h] = e
	s.pushFront(e)
	return e
}

func (s *shard) hash(key string) uint64 { return maphash.String(s.seed, key) }

func (s *shard) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.prev = &s.lru
	e.next = s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

// Len reports how many keys are tracked right now (at most MaxKeys).
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// remaining turns a bucket's fractional tokens into whole units left.
func remaining(tokens float64) int {
	if tokens <= 0 {
		return 0
	}
	return int(math.Floor(tokens))
}
