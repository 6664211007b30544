package upstreamcred

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPrepareLeavesNothingOfTheSubject(t *testing.T) {
	const subject = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
	req := httptest.NewRequest(http.MethodGet, "http://up.example/p?access_token="+subject+"&x="+subject+"&keep=1", nil)
	req.Header.Set("Authorization", "Bearer "+subject)
	req.Header.Set("Cookie", "a=1; t="+subject)
	req.Header.Set("DPoP", "proof")
	req.Header.Set("X-Other", "fine")
	out := Prepare(req, subject, "X-Upstream", "Token", "new")
	if out == req {
		t.Fatal("Prepare changed the caller's request instead of a copy")
	}
	if req.Header.Get("Authorization") == "" || req.URL.Query().Get("x") == "" {
		t.Fatal("the caller's request was modified")
	}
	want := http.Header{"X-Other": {"fine"}, "X-Upstream": {"Token new"}}
	if len(out.Header) != len(want) || out.Header.Get("X-Other") != "fine" || out.Header.Get("X-Upstream") != "Token new" {
		t.Fatalf("headers %v, want %v", out.Header, want)
	}
	if out.URL.RawQuery != "keep=1" {
		t.Fatalf("query %q, want keep=1", out.URL.RawQuery)
	}
}

func TestDefaults(t *testing.T) {
	for _, c := range []struct{ header, scheme, wantHeader, wantScheme string }{
		{"", "", "Authorization", "Bearer"},
		{"authorization", "", "authorization", "Bearer"},
		{"Authorization", "DPoP", "Authorization", "DPoP"},
		{"X-Api-Key", "", "X-Api-Key", ""},
		{"X-Api-Key", "Token", "X-Api-Key", "Token"},
	} {
		if h, s := Defaults(c.header, c.scheme); h != c.wantHeader || s != c.wantScheme {
			t.Errorf("Defaults(%q, %q) = %q, %q; want %q, %q", c.header, c.scheme, h, s, c.wantHeader, c.wantScheme)
		}
	}
	if v := Value("", "k"); v != "k" {
		t.Errorf("Value without a scheme: %q", v)
	}
	if v := Value("Bearer", "k"); v != "Bearer k" {
		t.Errorf("Value with a scheme: %q", v)
	}
}
