package main

// The gateway scenario's instruction counts: CPU time per request over TCP
// spreads by ±20 % between rounds on a shared machine, more than the
// differences it is asked to decide (the rate limit's cost is about 1 %
// of a request). So each proxy also runs under callgrind, serving one
// keep-alive connection one request at a time: after a warm-up its counts
// are zeroed (callgrind_control -z), the counted requests sent, and the
// counts dumped (-d): what the whole proxy process executed per request,
// in user space (the kernel's socket work, the same for every proxy, is
// not counted). Counts spread by about 1 % between runs (the scheduler and
// the network poller, counted too, run as long as the waits last), against
// ±20 % for CPU time.

import (
	"bufio"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
	"github.com/jwtgate/jwtgate/benchmarks/internal/results"
)

// childCounted, when set, has a gateway child serve its handler behind the
// same plain http.Server as the other proxies, so that only the handlers
// differ.
const childCounted = "JWTGATE_SCENARIO_COUNTED"

// countedProxies are the proxies counted, the floor first.
var countedProxies = []string{results.GatewayFloor, "gateway", "gateway_limited"}

// countedWarm is how many requests each counted child serves before the
// counted ones (connections, the key set, the verified-token cache).
const countedWarm = 20

// counting is what runGatewayInstructions counts: requests counted
// requests to each proxy in each of rounds runs.
type counting struct {
	proxies  []string
	requests int
	rounds   int
}

// valgrindAvailable reports whether callgrind can be run.
func valgrindAvailable() bool {
	_, err := exec.LookPath("valgrind")
	return err == nil
}

// runGatewayInstructions counts instructions per request of each proxy on
// a repeated ES256 token.
func runGatewayInstructions(fx *fixture.Fixture, c counting) ([]results.GatewayInstructions, error) {
	if !valgrindAvailable() {
		return nil, errors.New("valgrind is not installed")
	}
	up, err := startCountingUpstream()
	if err != nil {
		return nil, err
	}
	defer up.Close()
	upURL := "http://" + up.ln.Addr().String()
	token := fx.Tokens[fixture.ES256]
	dir, err := os.MkdirTemp("", "jwtgate-callgrind-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out []results.GatewayInstructions
	for round := 1; round <= c.rounds; round++ {
		for _, proxy := range c.proxies {
			f := filepath.Join(dir, fmt.Sprintf("%s-%d.out", proxy, round))
			total, err := countRun(proxy, upURL, fx.Server.URL("counted-"+proxy), token, c.requests, f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", proxy, err)
			}
			r := results.GatewayInstructions{Proxy: proxy, Mix: "repeated", Round: round, Requests: c.requests,
				PerRequest: float64(total) / float64(c.requests)}
			log.Printf("gateway %-16s instructions round %d: %8.0f per request", proxy, round, r.PerRequest)
			out = append(out, r)
		}
	}
	return out, nil
}

// countRun starts proxy under callgrind, warms it up, zeroes its counts,
// sends n requests one at a time on one keep-alive connection, dumps the
// counts (into file + ".1") and stops it; it returns the dumped total.
func countRun(proxy, upURL, jwks, token string, n int, file string) (uint64, error) {
	wrap := []string{"valgrind", "--tool=callgrind", "--callgrind-out-file=" + file}
	// asyncpreemptoff: valgrind does not survive Go's preemption signals;
	// cpu.rdtscp=off: valgrind 3.19 cannot decode RDTSCP. GOGC=off: no
	// collection cycle lands in some runs and not others.
	env := []string{childCounted + "=1", "GOGC=off", "GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off"}
	c, err := startChildUnder(wrap, env, proxy, upURL, jwks)
	if err != nil {
		return 0, err
	}
	defer c.stop()
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	url := "http://" + c.addr + "/"
	deadline := time.Now().Add(time.Minute)
	for warm := 0; warm < countedWarm; {
		ok, err := getOnce(client, url, token)
		switch {
		case err != nil:
			return 0, err
		case ok:
			warm++
		case time.Now().After(deadline):
			return 0, errors.New("not answering 200 after warm-up")
		}
	}
	pid := strconv.Itoa(c.cmd.Process.Pid)
	if out, err := exec.Command("callgrind_control", "--zero", pid).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("callgrind_control --zero: %v: %s", err, out)
	}
	for range n {
		if ok, err := getOnce(client, url, token); err != nil || !ok {
			return 0, fmt.Errorf("a counted request failed (200: %v): %v", ok, err)
		}
	}
	if out, err := exec.Command("callgrind_control", "--dump", pid).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("callgrind_control --dump: %v: %s", err, out)
	}
	return callgrindTotal(file + ".1")
}

// callgrindTotal reads the "totals:" (or "summary:") line of a callgrind
// output file.
func callgrindTotal(file string) (uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"totals:", "summary:"} {
			if v, ok := strings.CutPrefix(line, p); ok {
				return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no totals", file)
}
