package ratelimit

import (
	"errors"
	"testing"
)

// FailurePolicy names itself in config files: every value round-trips,
// "" is FailDefault, an unknown name is a config error, and Or resolves a
// store's default.
func TestFailurePolicyText(t *testing.T) {
	for _, p := range []FailurePolicy{FailDefault, FailOpen, FailClosed, FailLocal} {
		b, err := p.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got FailurePolicy
		if err := got.UnmarshalText(b); err != nil || got != p {
			t.Errorf("%v: %q → %v, %v", p, b, got, err)
		}
	}
	var p FailurePolicy
	if err := p.UnmarshalText([]byte("Open")); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Open: %v", err)
	}
	if _, err := FailurePolicy(9).MarshalText(); err == nil {
		t.Error("FailurePolicy(9) marshalled")
	}
	if FailDefault.Or(FailClosed) != FailClosed || FailOpen.Or(FailClosed) != FailOpen {
		t.Error("Or")
	}
}
