package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// fileFormat identifies the CacheFile layout; another value is a foreign file.
const fileFormat = "jwtgate-jwks-cache/1"

// cacheFile is the on-disk last good set.
type cacheFile struct {
	Format    string          `json:"format"`
	Source    string          `json:"source"` // the configured URL, or "issuer:" + Issuer
	URL       string          `json:"url"`    // the JWKS URL the set came from
	FetchedAt time.Time       `json:"fetched_at"`
	ExpiresAt time.Time       `json:"expires_at"`
	JWKS      json.RawMessage `json:"jwks"`
}

// source names the configured provider, so that a file written for another
// provider is never loaded.
func (c *Cache) source() string {
	switch {
	case c.cfg.URL != "":
		return c.cfg.URL
	case c.cfg.File != "":
		return fileURL(c.cfg.File)
	}
	return "issuer:" + c.cfg.Issuer
}

// persist writes s to CacheFile atomically (temp file, fsync, rename). A
// failure is logged: the file is a fallback, not a requirement.
func (c *Cache) persist(s *snapshot) {
	if c.cfg.CacheFile == "" || s.fromFile || len(s.body) == 0 {
		return
	}
	if err := writeFileAtomic(c.cfg.CacheFile, cacheFile{
		Format: fileFormat, Source: c.source(), URL: s.url,
		FetchedAt: s.validatedAt.UTC(), ExpiresAt: s.expiresAt.UTC(), JWKS: s.body,
	}); err != nil {
		c.log.Warn("cache: writing the cache file failed", slog.String("path", c.cfg.CacheFile), slog.Any("error", err))
	}
}

func writeFileAtomic(path string, v cacheFile) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadFile reads CacheFile once per cache life, when the provider could not
// be reached before any set was loaded. It returns nil (with a log line)
// for a missing, corrupt, foreign or too stale file.
func (c *Cache) loadFile(now time.Time) *snapshot {
	c.mu.Lock()
	tried := c.triedFile
	c.triedFile = true
	c.mu.Unlock()
	if c.cfg.CacheFile == "" || tried {
		return nil
	}
	s, err := c.readFile(now)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("cache: ignoring the cache file", slog.String("path", c.cfg.CacheFile), slog.Any("error", err))
		}
		return nil
	}
	return s
}

func (c *Cache) readFile(now time.Time) (*snapshot, error) {
	f, err := os.Open(c.cfg.CacheFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file holds one body of at most MaxBodyBytes plus a little metadata.
	limit := 2*c.cfg.MaxBodyBytes + 64<<10
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: cache file exceeds %d bytes", ErrBodyTooLarge, limit)
	}
	var cf cacheFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("cache: corrupt cache file: %w", err)
	}
	if cf.Format != fileFormat || cf.Source != c.source() {
		return nil, fmt.Errorf("cache: foreign cache file (format %q, source %q)", truncate(cf.Format), truncate(cf.Source))
	}
	staleAt := cf.ExpiresAt.Add(c.cfg.MaxStale)
	if !now.Before(staleAt) {
		return nil, fmt.Errorf("cache: cache file expired at %s, beyond MaxStale", cf.ExpiresAt.Format(time.RFC3339))
	}
	ps, err := parseJWKS(cf.JWKS, c.cfg.MaxKeys)
	if err != nil {
		return nil, err
	}
	return &snapshot{
		byKID: ps.byKID, keys: ps.keys, skipped: ps.skipped, digest: ps.digest,
		url: cf.URL, body: cf.JWKS, fromFile: true,
		loadedAt: now, validatedAt: cf.FetchedAt, expiresAt: cf.ExpiresAt, staleAt: staleAt,
		refreshAt: now, // the provider is down: the retry schedule decides
	}, nil
}
