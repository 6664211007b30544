package ratelimit

import (
	"testing"
	"unsafe"
)

// The per-key entry stays one 48-byte size class: the memory bound stated
// in Local's doc and the README counts on it.
func TestLocalEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got != entryBytes {
		t.Fatalf("entry is %d bytes, want %d", got, entryBytes)
	}
}
