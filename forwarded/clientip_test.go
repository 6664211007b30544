package forwarded

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	rs, err := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
		err          bool
	}{
		{name: "untrusted peer: its address, whatever it claims", remote: "203.0.113.9:5000", xff: []string{"10.1.1.1"}, want: "203.0.113.9"},
		{name: "trusted peer without the header", remote: "10.0.0.5:5000", want: "10.0.0.5"},
		{name: "the entry the proxy appended", remote: "10.0.0.5:5000", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "the client's own entries on the left prove nothing", remote: "10.0.0.5:5000", xff: []string{"1.2.3.4, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "past a chain of trusted proxies", remote: "127.0.0.1:5000", xff: []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, want: "198.51.100.7"},
		{name: "several header lines", remote: "10.0.0.5:5000", xff: []string{"6.6.6.6", "198.51.100.7"}, want: "198.51.100.7"},
		{name: "all trusted: the leftmost", remote: "10.0.0.5:5000", xff: []string{"10.2.2.2, 10.3.3.3"}, want: "10.2.2.2"},
		{name: "IPv6 with a port", remote: "10.0.0.5:5000", xff: []string{"[2001:db8::1]:443"}, want: "2001:db8::1"},
		{name: "IPv4-mapped", remote: "[::ffff:10.0.0.5]:5000", xff: []string{"::ffff:198.51.100.7"}, want: "198.51.100.7"},
		{name: "junk from a trusted proxy is refused", remote: "10.0.0.5:5000", xff: []string{"1.2.3.4, unknown"}, err: true},
		{name: "an empty entry is refused", remote: "10.0.0.5:5000", xff: []string{"1.2.3.4,"}, err: true},
		{name: "a zone is refused", remote: "10.0.0.5:5000", xff: []string{"fe80::1%eth0"}, err: true},
		{name: "too many entries", remote: "10.0.0.5:5000", xff: []string{"1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1"}, err: true},
		{name: "no usable RemoteAddr", remote: "pipe", err: true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got, err := rs.ClientIP(r)
		switch {
		case tc.err:
			if !errors.Is(err, ErrClientIP) {
				t.Errorf("%s: %v, %v; want ErrClientIP", tc.name, got, err)
			}
		case err != nil || got.String() != tc.want:
			t.Errorf("%s: %v, %v; want %s", tc.name, got, err, tc.want)
		}
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.5:1", "1.2.3.4, 198.51.100.7")
	f.Add("10.0.0.5:1", "[::1]:80,junk")
	rs, _ := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		a, err := rs.ClientIP(r)
		if err == nil && !a.IsValid() {
			t.Fatalf("no error and no address for %q %q", remote, xff)
		}
	})
}
