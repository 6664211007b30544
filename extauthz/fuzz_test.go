package extauthz

import (
	"path"
	"strings"
	"testing"
)

// FuzzCleanPaths: whatever a client puts in the request target, the path a
// route is chosen by is absolute, clean (no "..", ".", "//" left to be read
// another way later), free of control bytes, and cleaning it again changes
// nothing.
func FuzzCleanPaths(f *testing.F) {
	for _, s := range []string{
		"/", "", "/admin", "/public/../admin", "/public/%2e%2e/admin", "//admin", "/admin?x=1",
		"/x%2F..%2Fadmin", `/public\..\admin`, "/%252e%252e/admin", "/a%00b", "/%zz", "*", "http://h/x", "/a#frag",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		p, _ := splitTarget(target)
		if strings.ContainsAny(p, "?#") {
			t.Fatalf("splitTarget(%q) left %q", target, p)
		}
		decoded, literal, err := cleanPaths(p)
		if err != nil {
			return
		}
		for _, c := range []string{decoded, literal} {
			if c == "" || c[0] != '/' || path.Clean(c) != c {
				t.Fatalf("cleanPaths(%q) = %q, not a clean absolute path", p, c)
			}
			for i := 0; i < len(c); i++ {
				if c[i] < 0x20 || c[i] == 0x7f {
					t.Fatalf("cleanPaths(%q) = %q keeps a control byte", p, c)
				}
			}
		}
		if strings.Contains(decoded, `\`) {
			t.Fatalf("cleanPaths(%q) = %q keeps a backslash", p, decoded)
		}
	})
}
