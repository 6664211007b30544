package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// OTEL_TRACES_SAMPLER's root decision is made before a span starts: never
// for always_off, a ratio for traceidratio (the SDK then records what is
// admitted); other samplers are left to the SDK; a bad ratio is an error.
func TestRootSampling(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	admitted := func(sample func(*http.Request) bool, n int) int {
		got := 0
		for range n {
			if sample(r) {
				got++
			}
		}
		return got
	}
	for _, tc := range []struct {
		name, arg   string
		sdk         string // the SDK sampler's description, "" for none set
		min, max, n int
	}{
		{"always_off", "", "AlwaysOffSampler", 0, 0, 100},
		{"parentbased_always_off", "", "ParentBased{root:AlwaysOffSampler", 0, 0, 100},
		{"traceidratio", "", "AlwaysOnSampler", 100, 100, 100},
		{"traceidratio", "0.25", "AlwaysOnSampler", 2000, 3000, 10000},
		{"parentbased_traceidratio", "0.5", "ParentBased{root:AlwaysOnSampler", 4000, 6000, 10000},
	} {
		sampler, sample, err := rootSampling(tc.name, tc.arg)
		if err != nil || sampler == nil || sample == nil {
			t.Fatalf("%s %s: %v %v", tc.name, tc.arg, sampler, err)
		}
		if !strings.HasPrefix(sampler.Description(), tc.sdk) {
			t.Errorf("%s: the SDK samples with %s", tc.name, sampler.Description())
		}
		if got := admitted(sample, tc.n); got < tc.min || got > tc.max {
			t.Errorf("%s %s: %d of %d admitted, want %d to %d", tc.name, tc.arg, got, tc.n, tc.min, tc.max)
		}
	}
	for _, name := range []string{"", "always_on", "parentbased_always_on"} {
		if s, f, err := rootSampling(name, ""); s != nil || f != nil || err != nil {
			t.Errorf("%q: %v %v %v, want the SDK's own", name, s, f != nil, err)
		}
	}
	if _, _, err := rootSampling("traceidratio", "1.5"); err == nil {
		t.Error("a ratio of 1.5 accepted")
	}
}
