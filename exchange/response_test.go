package exchange

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTokenResponse(t *testing.T) {
	for _, tc := range []struct {
		body string
		tok  string
		exp  time.Duration
		ok   bool
	}{
		{`{"access_token":"abc","token_type":"Bearer","expires_in":300}`, "abc", 300 * time.Second, true},
		{`{"access_token":"abc","token_type":"bearer"}`, "abc", 0, true},
		{`{"access_token":"abc","token_type":"N_A","expires_in":"60"}`, "abc", time.Minute, true},
		{`{"access_token":"abc","token_type":"Bearer","expires_in":1e12}`, "abc", maxExpiresIn, true},
		{`{"access_token":"abc","token_type":"Bearer","expires_in":null}`, "abc", 0, true},
		{`{"access_token":"abc","token_type":"Bearer","expires_in":0}`, "", 0, false},
		{`{"access_token":"abc","token_type":"Bearer","expires_in":-5}`, "", 0, false},
		{`{"access_token":"abc","token_type":"Bearer","expires_in":"soon"}`, "", 0, false},
		{`{"access_token":"abc","token_type":"Bearer","expires_in":true}`, "", 0, false},
		{`{"access_token":"abc","token_type":"DPoP"}`, "", 0, false},
		{`{"access_token":"abc"}`, "", 0, false},
		{`{"access_token":"","token_type":"Bearer"}`, "", 0, false},
		{`{"access_token":"a\r\nX-Evil: 1","token_type":"Bearer"}`, "", 0, false},
		{`{"access_token":7,"token_type":"Bearer"}`, "", 0, false},
		{`{"access_token":"abc","token_type":"Bearer"} {}`, "", 0, false},
		{`[]`, "", 0, false},
		{``, "", 0, false},
		{`{"access_token":"abc","token_type":"Bearer"`, "", 0, false},
	} {
		tr, err := parseTokenResponse([]byte(tc.body))
		if tc.ok != (err == nil) {
			t.Errorf("%s: err %v, want ok %v", tc.body, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("%s: err %v does not wrap ErrBadResponse", tc.body, err)
			}
			continue
		}
		if tr.accessToken != tc.tok || tr.expiresIn != tc.exp {
			t.Errorf("%s: got %q %v, want %q %v", tc.body, tr.accessToken, tr.expiresIn, tc.tok, tc.exp)
		}
	}
}

func TestParseErrorResponse(t *testing.T) {
	code, desc := parseErrorResponse([]byte(`{"error":"invalid_grant","error_description":"` + strings.Repeat("x", 500) + `"}`))
	if code != "invalid_grant" || len(desc) > 110 {
		t.Fatalf("code %q, description of %d bytes", code, len(desc))
	}
	if code, _ := parseErrorResponse([]byte(`{"error":"evil\ncode"}`)); code != "" {
		t.Fatalf("code %q, want none for a code with a newline", code)
	}
	if code, _ := parseErrorResponse([]byte(`<html>`)); code != "" {
		t.Fatalf("code %q from HTML", code)
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"abc","token_type":"Bearer","expires_in":300}`,
		`{"access_token":"abc","token_type":"N_A","expires_in":"60","issued_token_type":"urn:ietf:params:oauth:token-type:jwt"}`,
		`{"access_token":"abc","token_type":"Bearer","expires_in":1.5e308}`,
		`{"access_token":"abc","token_type":"Bearer","expires_in":"NaN"}`,
		`{"error":"invalid_grant","error_description":"no"}`,
		`{"access_token":"\u0000","token_type":"Bearer"}`,
		`null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tr, err := parseTokenResponse(body)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("err %v does not wrap ErrBadResponse", err)
			}
			return
		}
		if tr.accessToken == "" || !headerSafe(tr.accessToken) {
			t.Fatalf("accepted token %q", tr.accessToken)
		}
		if tr.expiresIn < 0 || tr.expiresIn > maxExpiresIn {
			t.Fatalf("expires_in %v out of range", tr.expiresIn)
		}
		_, _ = parseErrorResponse(body)
	})
}
