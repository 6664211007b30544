package growstack

import "testing"

// Grow really uses its 120 KiB frame: the frame is not optimised away (a stack
// that stays small would leave callgrind's counts as noisy as before).
func TestGrowUsesItsFrame(t *testing.T) {
	done := make(chan byte)
	go func() { done <- Grow() }()
	if got := <-done; got != 0 {
		t.Fatalf("Grow read %d from a zeroed frame", got)
	}
	if n := testing.AllocsPerRun(10, func() { Grow() }); n != 0 {
		t.Fatalf("Grow allocates (%v): its frame escaped to the heap, and the stack does not grow", n)
	}
}
