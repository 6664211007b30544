package ratelimit

import "crypto/sha256"

// DefaultMaxKeyBytes is the default of LocalConfig.MaxKeyBytes and
// RedisConfig.MaxKeyBytes.
const DefaultMaxKeyBytes = 128

// boundKey returns key, or, when key is longer than maxBytes, a 33-byte
// stand-in (a zero byte and the key's SHA-256), so what a limiter stores per
// key is bounded whatever the caller passes: MaxKeys keys hold at most
// MaxKeys × maxBytes bytes of key. SHA-256 rather than a seeded 64-bit hash:
// two long keys share a bucket only if someone finds a SHA-256 collision.
// Only long keys pay for it (an allocation and the hashing), and short ones
// that start with a zero byte, which could otherwise spell a stand-in.
func boundKey(key string, maxBytes int) string {
	if len(key) <= maxBytes && (key == "" || key[0] != 0) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "\x00" + string(sum[:])
}

// maxKeyBytes validates and defaults a MaxKeyBytes field.
func maxKeyBytes(n int) (int, error) {
	switch {
	case n < 0:
		return 0, &ConfigError{Field: "MaxKeyBytes", Reason: "must not be negative"}
	case n == 0:
		return DefaultMaxKeyBytes, nil
	}
	return n, nil
}
