package benchmarks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

var (
	fxOnce sync.Once
	fx     *fixture.Fixture
	fxErr  error
)

// sharedFixture is built once per process. JWTGATE_BENCH_KEYS names a key
// file shared by all the processes of one run (benchmarks/run sets it), so
// that timed and instruction-counted runs verify the very same tokens.
func sharedFixture(tb testing.TB) *fixture.Fixture {
	tb.Helper()
	fxOnce.Do(func() {
		fx, fxErr = fixture.New(fixture.Options{KeyFile: os.Getenv("JWTGATE_BENCH_KEYS")})
	})
	if fxErr != nil {
		tb.Fatal(fxErr)
	}
	return fx
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fx != nil {
		fx.Close()
	}
	if code == 0 {
		// Every case's background goroutines must be gone once it is closed.
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// sink is a ResponseWriter that keeps the status and body and is reset
// between requests, so that the writer costs nothing that differs by case.
type sink struct {
	h    http.Header
	code int
	body []byte
}

func newSink() *sink { return &sink{h: http.Header{}} }

func (s *sink) Header() http.Header { return s.h }
func (s *sink) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}
func (s *sink) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	if len(s.body) < 256 {
		s.body = append(s.body, p...)
	}
	return len(p), nil
}

// WriteString spares io.WriteString a []byte conversion (an allocation the
// harness would otherwise add to every case).
func (s *sink) WriteString(p string) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	if len(s.body) < 256 {
		s.body = append(s.body, p...)
	}
	return len(p), nil
}

func (s *sink) reset() {
	clear(s.h)
	s.code = 0
	s.body = s.body[:0]
}

func newRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// call runs one request through the instance and says whether it was
// accepted, with the subject the inner handler saw.
type caller struct {
	inst *cases.Instance
	tok  string
	req  *http.Request
	w    *sink
}

func newCaller(inst *cases.Instance, tok string) *caller {
	return &caller{inst: inst, tok: tok, req: newRequest(tok), w: newSink()}
}

func (c *caller) call() (ok bool, sub string) {
	if c.inst.Verify != nil {
		sub, err := c.inst.Verify(c.tok)
		return err == nil, sub
	}
	c.w.reset()
	c.inst.Handler.ServeHTTP(c.w, c.req)
	return c.w.code == http.StatusOK, string(c.w.body)
}

// accepted is the hot-loop form of call: no subject string is built.
func (c *caller) accepted() bool {
	if c.inst.Verify != nil {
		_, err := c.inst.Verify(c.tok)
		return err == nil
	}
	c.w.reset()
	c.inst.Handler.ServeHTTP(c.w, c.req)
	return c.w.code == http.StatusOK
}

func build(tb testing.TB, c cases.Case, alg string) *cases.Instance {
	tb.Helper()
	inst, err := c.New(context.Background(), sharedFixture(tb), alg, cases.Options{})
	if err != nil {
		tb.Fatalf("%s/%s: %v", c.Name, alg, err)
	}
	return inst
}
