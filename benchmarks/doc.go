// Package benchmarks compares jwtgate with the other Go JWT middlewares and
// with the floors below them (the bare signature check; net/http, gin and
// echo answering with no JWT work), on one shared fixture.
//
// It is its own module, so that the peers never enter jwtgate's go.mod.
//
// Quick start:
//
//	cd benchmarks
//	go test -run TestCases ./...                            # every case really verifies
//	go test -run '^$' -bench 'Serial/alg=RS256/case=keyfunc$' .       # one case
//	./run                                                    # everything; writes RESULTS.md
package benchmarks
