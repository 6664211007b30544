package extauthz

// validName reports whether s is an HTTP field name (RFC 9110 §5.1: a
// token).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x80 && c > 0x20 && !isDelimiter(c):
		default:
			return false
		}
	}
	return true
}

func isDelimiter(c byte) bool {
	switch c {
	case '"', '(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}', 0x7f:
		return true
	}
	return false
}

// validValue reports whether s may be sent as a header value (no control
// bytes but tab): a claim with a line break is not forwarded, as the
// middleware does not forward it either.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// sameHeaderName compares lower-case header names treating '_' as '-',
// the way CGI-style upstreams (HTTP_X_USER) see them.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if x != y {
			return false
		}
	}
	return true
}
