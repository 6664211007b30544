package gateway

import "encoding"

// textEnum decodes s with T's own UnmarshalText: the library's enums
// (middleware.DPoPMode, ratelimit.FailurePolicy, llmusage.Format) name
// their values themselves, so the config holds no map from names back to
// values. ok is false for a name T does not know.
func textEnum[T any, P interface {
	*T
	encoding.TextUnmarshaler
}](s string) (T, bool) {
	var v T
	err := P(&v).UnmarshalText([]byte(s))
	return v, err == nil
}

// must drops textEnum's ok for a value Validate has already checked.
func must[T any](v T, _ bool) T { return v }
