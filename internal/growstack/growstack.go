// Package growstack grows the calling goroutine's stack before callgrind
// counts a function: a stack copied inside the function callgrind toggles
// collection on moves the frames it follows, so it misses the function's
// return and goes on counting what comes after (in a test binary, goleak's
// stack dumps). Each b.N run of a benchmark is a new goroutine, born with a
// small stack. Counted runs set GOGC=off, so the stack is not shrunk again.
package growstack

// Grow makes the caller's stack at least 128 KiB (the next power of two above its frame).
//
//go:noinline
func Grow() byte {
	var pad [120 << 10]byte // under the compiler's 128 KiB limit for a variable on the stack
	return touch(pad[:])
}

//go:noinline
func touch(b []byte) byte { return b[len(b)-1] }
