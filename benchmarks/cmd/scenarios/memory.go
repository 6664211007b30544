package main

import (
	"context"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// MemoryResult is the heap held by one structure filled with N entries.
type MemoryResult struct {
	What          string  `json:"what"`
	Entries       int     `json:"entries"`
	HeldEntries   int     `json:"held_entries"`
	Bytes         uint64  `json:"bytes"`
	BytesPerEntry float64 `json:"bytes_per_entry"`
}

// runMemory is filled in once jwtgate's limiter and verified-token cache exist.
func runMemory(context.Context, *fixture.Fixture, settings) ([]MemoryResult, []string, error) {
	return nil, []string{"memory: jwtgate's limiter and verified-token cache were not on main when this run was made"}, nil
}
