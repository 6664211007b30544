package cache

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"time"
)

// Status is a point-in-time view of a Cache, for health endpoints and
// debugging. Times are zero when the event has not happened.
type Status struct {
	Name    string // Config.Name
	URL     string // the JWKS URL in use ("" while discovery has not succeeded)
	Ready   bool   // as Ready()
	Breaker string // "closed", "open" or "half-open"

	Generation uint64       // as Generation()
	Keys       []KeyInfo    // the served keys, in document order
	Skipped    []SkippedKey // keys of the served document that were skipped
	FromFile   bool         // the served set was read from CacheFile

	LoadedAt    time.Time // when the served content was first loaded
	ValidatedAt time.Time // last 200 or 304 for it
	ExpiresAt   time.Time // its TTL ends
	StaleAt     time.Time // it stops being served (ExpiresAt + MaxStale)
	NextRefresh time.Time // the background refresh's next attempt

	LastAttempt         time.Time
	LastSuccess         time.Time
	LastError           error // the most recent failure, even if later attempts succeeded
	LastErrorAt         time.Time
	ConsecutiveFailures int

	Fetches             uint64 // HTTP requests sent (JWKS and discovery)
	FetchErrors         uint64 // of those, failed ones (network, status, size, parse)
	NotModified         uint64 // refreshes answered 304
	BreakerRejections   uint64 // refreshes refused by the open breaker
	UnknownKIDRefreshes uint64 // refreshes started by an unknown kid
	RecheckRefreshes    uint64 // refreshes started by KeyRecheck (a served key failed a signature)
	DeferredKIDReads    uint64 // unknown-kid reads and rechecks answered with a *DeferredError (503)

	// Deprecated: unknown kids are judged by the set's freshness, and the
	// cache keeps no negative entries; always 0.
	NegativeKIDs int
}

// KeyInfo describes one served key.
type KeyInfo struct {
	KID  string
	KTY  string
	ALG  string // "" if the JWK has none
	USE  string // "" if the JWK has none
	CRV  string // EC and OKP keys
	Bits int    // RSA modulus or EC curve size; 256 for Ed25519
}

// Status returns a snapshot of the cache's state. It takes short locks and
// allocates: keep it off the request path.
func (c *Cache) Status() Status {
	st := Status{
		Name:                c.cfg.Name,
		Ready:               c.Ready(),
		Breaker:             c.breaker.Load().State().String(),
		Fetches:             c.fetches.Load(),
		FetchErrors:         c.fetchErrors.Load(),
		NotModified:         c.notModified.Load(),
		BreakerRejections:   c.rejected.Load(),
		UnknownKIDRefreshes: c.kidRefreshes.Load(),
		RecheckRefreshes:    c.rechecks.Load(),
		DeferredKIDReads:    c.deferredReads.Load(),
	}
	c.mu.Lock()
	st.URL = c.cfg.URL
	if c.cfg.File != "" {
		st.URL = fileURL(c.cfg.File)
	}
	if st.URL == "" {
		st.URL = c.jwksURL
	}
	st.NextRefresh = c.nextRefresh
	st.LastAttempt, st.LastSuccess = c.lastAttempt, c.lastSuccess
	st.LastError, st.LastErrorAt = c.lastErr, c.lastErrAt
	st.ConsecutiveFailures = c.failures
	c.mu.Unlock()
	if s := c.snap.Load(); s != nil {
		st.Generation, st.FromFile = s.generation, s.fromFile
		st.LoadedAt, st.ValidatedAt, st.ExpiresAt, st.StaleAt = s.loadedAt, s.validatedAt, s.expiresAt, s.staleAt
		st.Skipped = append([]SkippedKey(nil), s.skipped...)
		for _, k := range s.keys {
			m := k.Marshal()
			ki := KeyInfo{KID: m.KID, KTY: string(m.KTY), ALG: string(m.ALG), USE: string(m.USE), CRV: string(m.CRV)}
			switch pk := k.Key().(type) {
			case *rsa.PublicKey:
				ki.Bits = pk.N.BitLen()
			case *ecdsa.PublicKey:
				ki.Bits = pk.Curve.Params().BitSize
			default:
				ki.Bits = 256
			}
			st.Keys = append(st.Keys, ki)
		}
	}
	return st
}
