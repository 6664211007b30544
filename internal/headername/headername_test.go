package headername

import "testing"

func TestSame(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"X-User", "x-user", true}, {"X-User", "X_USER", true}, {"x_user", "X-User", true},
		{"X-User", "X-Users", false}, {"X-User", "X-Usar", false}, {"", "", true}, {"X-User", "X.User", false},
	} {
		if got := Same(c.a, c.b); got != c.want {
			t.Errorf("Same(%q, %q) = %v", c.a, c.b, got)
		}
	}
	if !HasPrefix("x_jwtgate_subject", "X-Jwtgate-") || HasPrefix("X-Jwt", "X-Jwtgate-") || HasPrefix("X-Other", "X-Jwtgate-") {
		t.Error("HasPrefix")
	}
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{"X-User": true, "": false, "X User": false, "X:User": false, "X\x7fU": false, "X-Ü": false} {
		if ValidName(s) != want {
			t.Errorf("ValidName(%q) != %v", s, want)
		}
	}
	for s, want := range map[string]bool{"a b\tc": true, "a\nb": false, "a\rb": false, "a\x00": false, "a\x7f": false, "": true} {
		if ValidValue(s) != want {
			t.Errorf("ValidValue(%q) != %v", s, want)
		}
	}
}

func FuzzSame(f *testing.F) {
	f.Add("X-User", "x_user")
	f.Fuzz(func(t *testing.T, a, b string) {
		if Same(a, b) != Same(b, a) || !Same(a, a) {
			t.Fatalf("Same is not symmetric/reflexive on %q %q", a, b)
		}
	})
}
