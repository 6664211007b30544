package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// fileURL names a File source where a URL would stand (logs, Status, the
// persisted snapshot's source).
func fileURL(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "file://" + filepath.ToSlash(path)
}

// readJWKSFile is a fetch of Config.File: the content's SHA-256 plays the
// ETag, so an unchanged file is "not modified" (the set and its keys'
// generation stay), and every read is due again after FileCheckInterval.
// status reports 200 or 304 as a fetch would, for the same events.
func (c *Cache) readJWKSFile(etag string, status, n *int) (*response, error) {
	f, err := os.Open(c.cfg.File)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := c.cfg.MaxBodyBytes
	body, err := io.ReadAll(io.LimitReader(f, limit+1))
	*n = len(body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.cfg.File, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: %s exceeds %d bytes", ErrBodyTooLarge, c.cfg.File, limit)
	}
	sum := sha256.Sum256(body)
	out := &response{etag: `"` + hex.EncodeToString(sum[:]) + `"`, ttl: c.cfg.FileCheckInterval}
	if out.etag == etag {
		*status = http.StatusNotModified
		out.notModified = true
		return out, nil
	}
	*status = http.StatusOK
	out.body = body
	return out, nil
}
