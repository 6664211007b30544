package grpcauth

import (
	"net/http"
	"strings"
	"testing"
)

// The Verifier sets headers through http.Header.Set, so a name that is not
// in canonical form here would never be found.
func TestForwardedNamesCanonical(t *testing.T) {
	for _, f := range forwarded {
		if http.CanonicalHeaderKey(f.header) != f.header || f.key != strings.ToLower(f.header) {
			t.Errorf("%q / %q", f.header, f.key)
		}
	}
}
