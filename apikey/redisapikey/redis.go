// Package redisapikey is an apikey.Source in Redis: records stored as JSON
// under the prefix and the hex SHA-256 of the key, so that many gateway
// replicas share keys an operator adds or revokes in one place (SET, DEL).
// The key itself is never sent to Redis.
//
// Quick start:
//
//	src, err := redisapikey.New(redisapikey.Config{Addr: "127.0.0.1:6379"})
//	defer src.Close()
//	keys, err := apikey.New(apikey.Config{Source: src, Prefix: "jg_"})
//	// add a key: SET jwtgate:apikey:<hex sha256> '<its stored form>'
package redisapikey

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/apikey"
)

// Defaults for Config fields whose zero value means "the default".
const (
	DefaultPrefix  = "jwtgate:apikey:"
	DefaultTimeout = 50 * time.Millisecond
)

// Config configures a Source.
type Config struct {
	// Client is the Redis client; Close never closes a client it was
	// given. Nil: New makes one for Addr.
	Client redis.UniversalClient
	// Addr is "host:port", used when Client is nil.
	Addr string
	// Prefix goes before the hex hash. "" means DefaultPrefix.
	Prefix string
	// Timeout bounds each look-up. 0 means 50ms.
	Timeout time.Duration
}

// Source looks records up in Redis. Safe for concurrent use.
type Source struct {
	client  redis.UniversalClient
	own     bool
	prefix  string
	timeout time.Duration
}

var (
	_ apikey.Source    = (*Source)(nil)
	_ apikey.RawSource = (*Source)(nil)
)

// New returns a Source; it does not contact Redis.
func New(cfg Config) (*Source, error) {
	s := &Source{client: cfg.Client, prefix: cfg.Prefix, timeout: cfg.Timeout}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	switch {
	case s.timeout < 0:
		return nil, fmt.Errorf("%w: Timeout must not be negative", apikey.ErrInvalidConfig)
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	}
	if s.client == nil {
		if cfg.Addr == "" {
			return nil, fmt.Errorf("%w: set Client or Addr", apikey.ErrInvalidConfig)
		}
		s.client = redis.NewClient(&redis.Options{Addr: cfg.Addr, ContextTimeoutEnabled: true})
		s.own = true
	}
	return s, nil
}

// Key returns the Redis key a record for sum lives under.
func (s *Source) Key(sum [32]byte) string {
	// One allocation: the prefix and the hex digits written into one
	// buffer, which becomes the string.
	b := make([]byte, len(s.prefix)+hex.EncodedLen(len(sum)))
	hex.Encode(b[copy(b, s.prefix):], sum[:])
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// LookupRaw implements apikey.RawSource: the value under sum's key as it
// is, asked on every call (a DEL or SET is seen by the next one).
func (s *Source) LookupRaw(ctx context.Context, sum [32]byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	b, err := s.client.Get(ctx, s.Key(sum)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, apikey.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("redisapikey: %w", err)
	}
	return b, nil
}

// LookupHash implements apikey.Source.
func (s *Source) LookupHash(ctx context.Context, sum [32]byte) (*apikey.Record, error) {
	b, err := s.LookupRaw(ctx, sum)
	if err != nil {
		return nil, err
	}
	recs, err := apikey.ParseRecords(bytes.NewReader(b))
	if err != nil || len(recs) != 1 {
		return nil, fmt.Errorf("redisapikey: the value under %s is not one record", s.Key(sum))
	}
	return &recs[0], nil
}

// Put stores rec under its hash, for tools and tests.
func (s *Source) Put(ctx context.Context, rec apikey.Record) error {
	line, err := rec.MarshalLine()
	if err != nil {
		return err
	}
	recs, err := apikey.ParseRecords(bytes.NewReader(line))
	if err != nil {
		return err
	}
	var sum [32]byte
	if _, err := hex.Decode(sum[:], []byte(recs[0].Hash[len("sha256:"):])); err != nil {
		return err
	}
	return s.client.Set(ctx, s.Key(sum), line, 0).Err()
}

// Close closes the client New made (never one it was given).
func (s *Source) Close() error {
	if s.own {
		return s.client.Close()
	}
	return nil
}
