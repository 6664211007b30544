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
