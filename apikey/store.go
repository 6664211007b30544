package apikey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtgate/jwtgate/middleware"
)

// DefaultReloadInterval is how often the key file is checked when
// Config.ReloadInterval is 0.
const DefaultReloadInterval = 5 * time.Second

// Source is a remote store of records (package apikey/redisapikey's), asked
// for a hash the local records do not hold. LookupHash returns ErrNotFound
// (wrapped) for a hash it does not hold, any other error when it cannot
// answer. It sees the key's SHA-256 only, never the key.
type Source interface {
	LookupHash(ctx context.Context, sum [32]byte) (*Record, error)
}

// RawSource is a Source's optional capability, found by type assertion:
// LookupRaw returns the stored form for sum as it is (one key-file line)
// or ErrNotFound (wrapped). With it the Store still asks on every request,
// so a record changed or deleted at the source takes effect on the next
// one, but decodes each stored value once: while the source returns the
// same bytes for a key, the Store hands out the same *middleware.APIKey,
// whose claims the Verifier then builds once.
type RawSource interface {
	LookupRaw(ctx context.Context, sum [32]byte) ([]byte, error)
}

// maxDecoded bounds the records a Store keeps decoded from a RawSource.
const maxDecoded = 4096

// Config configures a Store. Keys come from any of File, Env, Records and
// Source; at least one must be set.
type Config struct {
	// File is a key file (JSON Lines of Record), reloaded when its content
	// changes: a revoked key stops working within ReloadInterval. A file
	// that does not parse is refused by New, and later keeps the last good
	// set (reported to OnReload and the Logger).
	File string
	// ReloadInterval is how often File is checked. 0 means 5s.
	ReloadInterval time.Duration
	// Env names an environment variable holding records in the key file's
	// format, read once by New.
	Env string
	// Records are keys given in code. Nil: none; an empty slice is a
	// source that holds no key (every key refused).
	Records []Record
	// Source is asked for keys none of the above holds (Redis). Nil: none.
	Source Source
	// Prefix, when set, is the prefix every key has (Mint's prefix): a
	// bearer token without it is not taken for a key
	// (middleware.APIKeyRecognizer), so a route can take API keys and
	// introspected tokens by bearer. "": every non-JWS bearer token.
	Prefix string
	// OnReload is called after each reload of File that found a change
	// (or failed), for logs and tests. Nil: nothing is reported.
	OnReload func(ReloadEvent)
	// Logger receives a line per failed reload (never a key). Nil:
	// slog.Default().
	Logger *slog.Logger
}

// ReloadEvent describes one reload of the key file.
type ReloadEvent struct {
	// Keys is how many keys are in force after it.
	Keys int
	// Err is why the file was not loaded (the last good set stays).
	Err error
}

// Store is a middleware.APIKeyStore: keys by their SHA-256, compared in
// constant time. Create it with New; it is safe for concurrent use; Close
// stops the file watcher and waits for it.
type Store struct {
	cfg  Config
	snap atomic.Pointer[snapshot]
	// version is bumped after every snapshot is installed
	// (middleware.APIKeyVersioner): a Verifier's cached answer for a key
	// records it and stops answering once it moves.
	version atomic.Uint64

	fixed []Record // Env and Records: in every snapshot

	raw     RawSource              // cfg.Source's, when it has the capability
	decMu   sync.RWMutex           // guards decoded
	decoded map[[32]byte]*rawEntry // by the key's SHA-256: the bytes last decoded for it

	mu       sync.Mutex // serialises reloads
	lastFile [32]byte   // SHA-256 of the file content last loaded; guarded by mu

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// snapshot indexes the local records by the first 8 bytes of their hash;
// the whole hash is then compared in constant time (equal32), so the map's
// own comparison never decides whether a key matches. Hashes sharing the
// 8 bytes are chained.
type snapshot struct {
	m map[uint64]*entry
	n int
}

type entry struct {
	sum  [32]byte // the stored hash, compared in constant time
	key  *middleware.APIKey
	next *entry // another record whose hash starts alike
}

// index is where sum is found in a snapshot.
func index(sum *[32]byte) uint64 { return binary.LittleEndian.Uint64(sum[:8]) }

// rawEntry is a RawSource's stored form for one key and what it decoded to.
type rawEntry struct {
	raw []byte
	key *middleware.APIKey
}

var (
	_ middleware.APIKeyStore      = (*Store)(nil)
	_ middleware.APIKeyRecognizer = (*Store)(nil)
	_ middleware.APIKeyVersioner  = (*Store)(nil)
)

// New reads the keys and returns a Store; with File set it starts the
// watcher that reloads it (stopped by Close).
func New(cfg Config) (*Store, error) {
	if cfg.File == "" && cfg.Env == "" && cfg.Records == nil && cfg.Source == nil {
		return nil, fmt.Errorf("%w: no keys: set File, Env, Records or Source", ErrInvalidConfig)
	}
	if cfg.ReloadInterval < 0 {
		return nil, fmt.Errorf("%w: ReloadInterval must not be negative", ErrInvalidConfig)
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if strings.TrimFunc(cfg.Prefix, keyChar) != "" {
		return nil, fmt.Errorf("%w: Prefix %q: letters, digits, '_' or '-' only", ErrInvalidConfig, cfg.Prefix)
	}
	s := &Store{cfg: cfg, stop: make(chan struct{})}
	if rs, ok := cfg.Source.(RawSource); ok {
		s.raw, s.decoded = rs, make(map[[32]byte]*rawEntry)
	}
	for _, r := range cfg.Records {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("%w: Records: %w", ErrInvalidConfig, err)
		}
	}
	s.fixed = append(s.fixed, cfg.Records...)
	if cfg.Env != "" {
		v, ok := os.LookupEnv(cfg.Env)
		if !ok {
			return nil, fmt.Errorf("%w: environment variable %s is not set", ErrInvalidConfig, cfg.Env)
		}
		recs, err := ParseRecords(strings.NewReader(v))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, cfg.Env, err)
		}
		s.fixed = append(s.fixed, recs...)
	}
	var fileRecs []Record
	if cfg.File != "" {
		b, err := os.ReadFile(cfg.File)
		if err != nil {
			return nil, fmt.Errorf("%w: key file: %w", ErrInvalidConfig, err)
		}
		if fileRecs, err = ParseRecords(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%w: key file %s: %w", ErrInvalidConfig, cfg.File, err)
		}
		s.lastFile = sha256.Sum256(b)
	}
	if err := s.install(fileRecs); err != nil {
		return nil, err
	}
	if cfg.File != "" {
		s.wg.Add(1)
		go s.watch()
	}
	return s, nil
}

// install builds a snapshot of the fixed records and fileRecs and swaps it
// in whole.
func (s *Store) install(fileRecs []Record) error {
	snap := &snapshot{m: make(map[uint64]*entry, len(s.fixed)+len(fileRecs))}
	for _, r := range append(append([]Record(nil), s.fixed...), fileRecs...) {
		sum, _ := r.sum() // validated
		if snap.find(&sum) != nil {
			return fmt.Errorf("%w: a key is listed twice", ErrInvalidRecord)
		}
		i := index(&sum)
		snap.m[i] = &entry{sum: sum, key: apiKey(&r), next: snap.m[i]}
		snap.n++
	}
	s.snap.Store(snap)
	// After the swap: a Verifier reads the version before it looks a key
	// up, so an answer from the old snapshot is always recorded under
	// the old version.
	s.version.Add(1)
	return nil
}

func apiKey(r *Record) *middleware.APIKey {
	return &middleware.APIKey{ID: r.ID, Subject: r.Subject, Scopes: append([]string(nil), r.Scopes...), Tier: r.Tier, ExpiresAt: r.Expires}
}

// watch reloads the file every ReloadInterval until Close.
func (s *Store) watch() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.reloadFile(false)
		}
	}
}

// Reload reads the key file now (the watcher does so every
// ReloadInterval). A file that does not parse keeps the last good set and
// is the error.
func (s *Store) Reload() error {
	if s.cfg.File == "" {
		return nil
	}
	return s.reloadFile(true)
}

func (s *Store) reloadFile(force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.cfg.File)
	if err == nil {
		sum := sha256.Sum256(b)
		if sum == s.lastFile && !force {
			return nil
		}
		var recs []Record
		if recs, err = ParseRecords(bytes.NewReader(b)); err == nil {
			if err = s.install(recs); err == nil {
				s.lastFile = sum
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("apikey: reloading %s: %w", s.cfg.File, err)
		s.cfg.Logger.Warn("apikey: key file not reloaded; the last good keys stay", slog.Any("err", err))
	}
	if s.cfg.OnReload != nil {
		s.cfg.OnReload(ReloadEvent{Keys: s.Len(), Err: err})
	}
	return err
}

// Len returns how many keys the local records hold.
func (s *Store) Len() int { return s.snap.Load().n }

// find returns the entry whose hash is sum, or nil. The map finds the
// entries by 8 bytes of the hash (its timing can tell an observer about a
// hash, never about a key: SHA-256 does not run backwards); the whole
// hash is then compared in constant time, so that comparison decides.
func (snap *snapshot) find(sum *[32]byte) *entry {
	for e := snap.m[index(sum)]; e != nil; e = e.next {
		if equal32(&e.sum, sum) {
			return e
		}
	}
	return nil
}

// errUnknown is the answer for every unknown key: never the key.
var errUnknown = fmt.Errorf("apikey: %w", middleware.ErrTokenInactive)

// LookupAPIKey implements middleware.APIKeyStore: the key's SHA-256 is
// looked up, then compared with the stored one in constant time. The
// Verifier has bounded the key's size (middleware.Config.MaxTokenSize)
// before it asks: the Store does not check it again.
func (s *Store) LookupAPIKey(ctx context.Context, key string) (*middleware.APIKey, error) {
	if key == "" {
		return nil, errUnknown
	}
	sum := Sum(key)
	if e := s.snap.Load().find(&sum); e != nil {
		return e.key, nil
	}
	switch {
	case s.raw != nil:
		return s.lookupRaw(ctx, &sum)
	case s.cfg.Source == nil:
		return nil, errUnknown
	}
	rec, err := s.cfg.Source.LookupHash(ctx, sum)
	if err != nil {
		return nil, sourceErr(err)
	}
	return checkSourced(rec, &sum)
}

// sourceErr is a Source's failure as LookupAPIKey reports it.
func sourceErr(err error) error {
	if errors.Is(err, ErrNotFound) {
		return errUnknown
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// checkSourced checks a Source's record for sum: valid, and stored under
// its own hash (a record put under another key's hash grants nothing).
func checkSourced(rec *Record, sum *[32]byte) (*middleware.APIKey, error) {
	got, err := rec.sum()
	if err != nil || rec.validate() != nil {
		return nil, fmt.Errorf("%w: the source's record is malformed", ErrUnavailable)
	}
	if !equal32(&got, sum) {
		return nil, errUnknown
	}
	return apiKey(rec), nil
}

// lookupRaw asks the RawSource for sum's stored form on every call, and
// decodes it only when it is not the form decoded last time for sum.
func (s *Store) lookupRaw(ctx context.Context, sum *[32]byte) (*middleware.APIKey, error) {
	b, err := s.raw.LookupRaw(ctx, *sum)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			s.decMu.Lock()
			delete(s.decoded, *sum)
			s.decMu.Unlock()
		}
		return nil, sourceErr(err)
	}
	s.decMu.RLock()
	e := s.decoded[*sum]
	s.decMu.RUnlock()
	if e != nil && bytes.Equal(e.raw, b) {
		return e.key, nil
	}
	recs, err := ParseRecords(bytes.NewReader(b))
	if err != nil || len(recs) != 1 {
		return nil, fmt.Errorf("%w: the source's value is not one record", ErrUnavailable)
	}
	k, err := checkSourced(&recs[0], sum)
	if err != nil {
		return nil, err
	}
	s.decMu.Lock()
	if _, ok := s.decoded[*sum]; !ok && len(s.decoded) >= maxDecoded {
		for old := range s.decoded { // any one: the next use of it decodes again
			delete(s.decoded, old)
			break
		}
	}
	s.decoded[*sum] = &rawEntry{raw: b, key: k}
	s.decMu.Unlock()
	return k, nil
}

// RecognizesAPIKey implements middleware.APIKeyRecognizer: a token with
// Prefix (every token when Prefix is "").
func (s *Store) RecognizesAPIKey(token string) bool { return strings.HasPrefix(token, s.cfg.Prefix) }

// APIKeyVersion implements middleware.APIKeyVersioner: the version moves
// on every reload of File that installs keys (Reload, the watcher), so a
// Verifier's cached answer for a revoked key stops at once. A Store with a
// Source says its answers may not be reused: Redis tells it of no change,
// so every request asks it.
func (s *Store) APIKeyVersion() (uint64, bool) {
	return s.version.Load(), s.cfg.Source == nil
}

// Close stops the file watcher and waits for it. Idempotent.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}

// equal32 compares two hashes in constant time: every word is read and
// folded in, whatever differs, as subtle.ConstantTimeCompare does byte by
// byte (at a seventh of the cost for 32 bytes).
func equal32(a, b *[32]byte) bool {
	var d uint64
	for i := 0; i < 32; i += 8 {
		d |= binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
	}
	return d == 0
}
