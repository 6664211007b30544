// Package tbrecord runs test code against a recording testing.TB, so that a
// test can show that a check fails: the contract suites (ratelimittest,
// replaytest, budgettest) run their checks against deliberately broken
// stores and require the failures they exist to find.
package tbrecord

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Result is what one Run recorded.
type Result struct {
	Failed  bool
	Skipped bool
	// Log holds every Error, Fatal, Skip and Log message, one a line.
	Log string
}

// Run calls f on a goroutine of its own with a TB that records failures
// instead of reporting them to parent, waits for it (Fatal and Skip end
// f's goroutine, as they do a test's), runs the cleanups f registered, last
// first, and returns what was recorded. Methods Run does not record (TempDir,
// Setenv, Context, …) are parent's.
func Run(parent testing.TB, f func(testing.TB)) Result {
	parent.Helper()
	r := &recorder{TB: parent}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	cleanups := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return Result{Failed: r.failed, Skipped: r.skipped, Log: r.log.String()}
}

// recorder is a testing.TB that keeps its failures. The embedded TB (the
// parent) supplies testing.TB's unexported method and what is not
// overridden.
type recorder struct {
	testing.TB

	mu       sync.Mutex // guards the fields below
	failed   bool
	skipped  bool
	log      strings.Builder
	cleanups []func()
}

func (r *recorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(&r.log, format, args...)
	r.log.WriteByte('\n')
}

func (r *recorder) Helper() {}

func (r *recorder) Log(args ...any)                 { r.logf("%s", fmt.Sprint(args...)) }
func (r *recorder) Logf(format string, args ...any) { r.logf(format, args...) }

func (r *recorder) Fail() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) Error(args ...any) { r.Log(args...); r.Fail() }

func (r *recorder) Errorf(format string, args ...any) { r.logf(format, args...); r.Fail() }

func (r *recorder) FailNow() { r.Fail(); runtime.Goexit() }

func (r *recorder) Fatal(args ...any) { r.Error(args...); runtime.Goexit() }

func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }

func (r *recorder) SkipNow() {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Skip(args ...any) { r.Log(args...); r.SkipNow() }

func (r *recorder) Skipf(format string, args ...any) { r.logf(format, args...); r.SkipNow() }

func (r *recorder) Skipped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}
