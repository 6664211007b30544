// Package headername holds the header-name and header-value rules every
// part of jwtgate that forwards claims as headers must agree on (the
// middleware, the ext_authz service, the gateway): a client must not get a
// forged claim header past one of them that another would have removed.
package headername

// Same reports whether a and b name the same header for an upstream:
// ignoring letter case (a name Go did not canonicalise is still the same
// header on the wire) and treating '_' as '-' (CGI, WSGI, Rack and PHP turn
// both into HTTP_X_USER).
func Same(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if fold(a[i]) != fold(b[i]) {
			return false
		}
	}
	return true
}

// HasPrefix reports whether name starts with prefix under the rules of Same.
func HasPrefix(name, prefix string) bool {
	return len(name) >= len(prefix) && Same(name[:len(prefix)], prefix)
}

func fold(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// ValidName reports whether s is an HTTP field name (RFC 9110 §5.1: a
// token).
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x7f && c > 0x20 && !delimiter(c):
		default:
			return false
		}
	}
	return true
}

func delimiter(c byte) bool {
	switch c {
	case '"', '(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}':
		return true
	}
	return false
}

// ValidValue reports whether s may be sent as a header value (RFC 9110
// §5.5: no control bytes but tab). A claim with a line break is not
// forwarded: net/http would refuse the upstream request, and a less
// careful client would split it.
func ValidValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
