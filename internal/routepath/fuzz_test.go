package routepath

import (
	"path"
	"strings"
	"testing"
)

// FuzzClean: whatever a client puts in the request target, the path a
// route is chosen by is absolute, clean (no "..", ".", "//" left to be read
// another way later; only a trailing slash kept), free of control bytes,
// and cleaning it again changes nothing.
func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"/", "", "/admin", "/public/../admin", "/public/%2e%2e/admin", "//admin", "/admin?x=1",
		"/x%2F..%2Fadmin", `/public\..\admin`, "/%252e%252e/admin", "/a%00b", "/%zz", "*", "http://h/x", "/a#frag", "/api/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		p, _ := SplitTarget(target)
		if strings.ContainsAny(p, "?#") {
			t.Fatalf("SplitTarget(%q) left %q", target, p)
		}
		decoded, literal, err := Clean(p)
		if err != nil {
			return
		}
		for _, c := range []string{decoded, literal} {
			if c == "" || c[0] != '/' || path.Clean(c) != strings.TrimSuffix(c, "/") && c != "/" {
				t.Fatalf("Clean(%q) = %q, not a clean absolute path", p, c)
			}
			for i := 0; i < len(c); i++ {
				if c[i] < 0x20 || c[i] == 0x7f {
					t.Fatalf("Clean(%q) = %q keeps a control byte", p, c)
				}
			}
		}
		if strings.Contains(decoded, `\`) {
			t.Fatalf("Clean(%q) = %q keeps a backslash", p, decoded)
		}
		if again, _, err := Clean(decoded); err == nil && again != decoded && !strings.Contains(decoded, "%") {
			t.Fatalf("Clean(Clean(%q)) = %q, not %q", p, again, decoded)
		}
	})
}
