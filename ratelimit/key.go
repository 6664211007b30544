package ratelimit

import "github.com/jwtgate/jwtgate/ratelimit/internal/bucket"

// DefaultMaxKeyBytes is the default of LocalConfig.MaxKeyBytes and
// redislimit.Config.MaxKeyBytes.
const DefaultMaxKeyBytes = 128

// maxKeyBytes validates and defaults a MaxKeyBytes field.
func maxKeyBytes(n int) (int, error) {
	m, ok := bucket.MaxKeyBytes(n, DefaultMaxKeyBytes)
	if !ok {
		return 0, &ConfigError{Field: "MaxKeyBytes", Reason: "must not be negative"}
	}
	return m, nil
}
