package routepath

import (
	"errors"
	"testing"
)

func TestPick(t *testing.T) {
	pick := func(p string) string {
		for _, prefix := range []string{"/admin", "/api/", "/"} {
			if Match(prefix, p) {
				return prefix
			}
		}
		return ""
	}
	for _, c := range []struct {
		target, clean, route string
		err                  error
	}{
		{"/public/../admin", "/admin", "/admin", nil},
		{"/public/%2e%2e/admin", "/admin", "/admin", nil},
		{"/public/%2E%2E/admin/x", "/admin/x", "/admin", nil},
		{"//admin", "/admin", "/admin", nil},
		{"/admin?x=1", "/admin", "/admin", nil},
		{`/public\..\admin`, "/admin", "/admin", ErrAmbiguous},
		{"/x%2F..%2Fadmin", "/admin", "/admin", ErrAmbiguous},
		{"/api/", "/api/", "/api/", nil},
		{"/api", "/api", "/", nil},
		{"/administrator", "/administrator", "/", nil},
		{"/%252e%252e/admin", "/%2e%2e/admin", "/", nil},
		{"/a%00b", "", "", ErrMalformed},
		{"/%zz", "", "", ErrMalformed},
		{"*", "", "", ErrMalformed},
		{"http://h/admin", "", "", ErrMalformed},
	} {
		p, _ := SplitTarget(c.target)
		clean, route, err := Pick(p, pick)
		if clean != c.clean || route != c.route || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("Pick(%q) = %q, %q, %v; want %q, %q, %v", c.target, clean, route, err, c.clean, c.route, c.err)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	for prefix, ok := range map[string]bool{
		"/": true, "/admin": true, "/admin/": true, "admin": false, "/a/../b": false, "/a%2Fb": false, "/a?b": false,
	} {
		if err := CheckPrefix(prefix); (err == nil) != ok {
			t.Errorf("CheckPrefix(%q) = %v", prefix, err)
		}
	}
}

// Every request on a gateway proxy route is picked through Pick: a clean
// path with nothing to decode costs no allocation, and gets the same answer
// as the slow path would give.
func TestPickPlainPathDoesNotAllocate(t *testing.T) {
	pick := func(p string) int {
		if Match("/api/", p) {
			return 1
		}
		return 0
	}
	for _, p := range []string{"/api/v1/things", "/api/", "/", "/caf\xc3\xa9"} {
		if n := testing.AllocsPerRun(100, func() { _, _, _ = Pick(p, pick) }); n != 0 {
			t.Errorf("Pick(%q): %v allocations", p, n)
		}
	}
	for _, c := range []struct{ in, want string }{{"/a/./b/../c/", "/a/c/"}, {"//a", "/a"}, {"/a/", "/a/"}, {"/", "/"}} {
		if d, l, err := Clean(c.in); err != nil || d != c.want || l != c.want {
			t.Errorf("Clean(%q) = %q, %q, %v; want %q", c.in, d, l, err, c.want)
		}
	}
}
