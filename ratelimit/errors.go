package ratelimit

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidConfig is wrapped by every configuration error that NewLocal
	// and redislimit.New return; the detail is a *ConfigError.
	ErrInvalidConfig = errors.New("ratelimit: invalid config")

	// ErrInvalidCost is returned by Allow for a negative cost.
	ErrInvalidCost = errors.New("ratelimit: cost must not be negative")

	// ErrUnavailable wraps every failure to reach Redis or get an answer
	// from it in time. Allow does not return it (the failure policy decides
	// instead); observers see it in [Event.Err].
	ErrUnavailable = errors.New("ratelimit: redis unavailable")
)

// ConfigError says which configuration field is wrong and why.
// errors.Is(err, ErrInvalidConfig) is true for it.
type ConfigError struct {
	Field  string // the field's name in LocalConfig or redislimit.Config
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("ratelimit: invalid config: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
