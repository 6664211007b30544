package apikey

import "errors"

// Sentinel errors, for errors.Is.
var (
	// ErrInvalidConfig wraps every configuration error New returns.
	ErrInvalidConfig = errors.New("apikey: invalid config")
	// ErrInvalidRecord: a stored record (a key file's line, a Redis
	// value) is malformed. A key file with one is not loaded (the last
	// good set stays).
	ErrInvalidRecord = errors.New("apikey: invalid record")
	// ErrNotFound is a Source's answer for a hash it does not hold.
	ErrNotFound = errors.New("apikey: not found")
	// ErrUnavailable: a Source could not answer (503, never 401).
	ErrUnavailable = errors.New("apikey: store unavailable")
)
