// Package boundkey bounds what a store keeps per key: the one rule every
// jwtgate store (rate limits, budgets; in process and in Redis) uses, so a
// key stored by one means the same as in another.
package boundkey

import "crypto/sha256"

// Bound returns key, or, when key is longer than maxBytes, a 33-byte
// stand-in (a zero byte and the key's SHA-256), so what a store keeps per
// key is bounded whatever the caller passes. SHA-256 rather than a seeded
// 64-bit hash: two long keys share an entry only if someone finds a
// SHA-256 collision. Only long keys pay for it (an allocation and the
// hashing), and short ones that start with a zero byte, which could
// otherwise spell a long key's stand-in and share its entry.
func Bound(key string, maxBytes int) string {
	if len(key) <= maxBytes && (key == "" || key[0] != 0) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "\x00" + string(sum[:])
}
