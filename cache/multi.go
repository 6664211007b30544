package cache

import (
	"context"
	"errors"
	"fmt"

	"github.com/MicahParks/jwkset"
)

// Multi holds one Cache per issuer, for a verifier that accepts tokens from
// several providers. Create it with NewMulti; the zero value is not usable.
// It is safe for concurrent use; its set of issuers is fixed.
type Multi struct {
	caches map[string]*Cache
	order  []string
}

// NewMulti creates one Cache per Config. Every Config must have an Issuer
// (the key, matched exactly against a token's iss) and the issuers must be
// distinct. If any Cache fails to start, those already started are closed.
func NewMulti(ctx context.Context, cfgs []Config) (*Multi, error) {
	if len(cfgs) == 0 {
		return nil, fmt.Errorf("%w: NewMulti needs at least one Config", ErrInvalidConfig)
	}
	m := &Multi{caches: make(map[string]*Cache, len(cfgs))}
	for i, cfg := range cfgs {
		if cfg.Issuer == "" {
			m.Close()
			return nil, fmt.Errorf("%w: config %d has no Issuer", ErrInvalidConfig, i)
		}
		if _, dup := m.caches[cfg.Issuer]; dup {
			m.Close()
			return nil, fmt.Errorf("%w: issuer %q configured twice", ErrInvalidConfig, cfg.Issuer)
		}
		c, err := New(ctx, cfg)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("cache: issuer %q: %w", cfg.Issuer, err)
		}
		m.caches[cfg.Issuer] = c
		m.order = append(m.order, cfg.Issuer)
	}
	return m, nil
}

// Cache returns the cache for an issuer.
func (m *Multi) Cache(issuer string) (*Cache, bool) {
	c, ok := m.caches[issuer]
	return c, ok
}

// Storages returns a new map from issuer to its cache as a jwkset.Storage,
// the shape middleware.Config.KeysByIssuer takes.
func (m *Multi) Storages() map[string]jwkset.Storage {
	out := make(map[string]jwkset.Storage, len(m.caches))
	for iss, c := range m.caches {
		out[iss] = c
	}
	return out
}

// Issuers returns the configured issuers in configuration order.
func (m *Multi) Issuers() []string {
	return append([]string(nil), m.order...)
}

// Ready reports whether every cache is ready.
func (m *Multi) Ready() bool {
	for _, c := range m.caches {
		if !c.Ready() {
			return false
		}
	}
	return true
}

// Status returns each cache's Status, keyed by issuer.
func (m *Multi) Status() map[string]Status {
	out := make(map[string]Status, len(m.caches))
	for iss, c := range m.caches {
		out[iss] = c.Status()
	}
	return out
}

// WaitReady waits until every cache is ready or ctx ends.
func (m *Multi) WaitReady(ctx context.Context) error {
	for _, iss := range m.order {
		if err := m.caches[iss].WaitReady(ctx); err != nil {
			return fmt.Errorf("cache: issuer %q: %w", iss, err)
		}
	}
	return nil
}

// Close closes every cache and waits for them. It is idempotent.
func (m *Multi) Close() error {
	var errs []error
	for _, c := range m.caches {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
