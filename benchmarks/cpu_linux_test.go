package benchmarks

import "golang.org/x/sys/unix"

// processCPU is the CPU time the whole process has used, in nanoseconds
// (every thread: the benchmark loop, GC workers, the JWKS server). On a
// machine shared with other work, CPU time per request moves far less than
// wall time, which also counts the time spent waiting for a core.
func processCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}
