package jwtgatetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"time"
)

// APIKey describes a key NewAPIKey mints.
type APIKey struct {
	// Prefix starts the key ("sk-", "jg_"). "": none.
	Prefix string
	// ID names the key. "": none.
	ID string
	// Subject is the sub the key is verified as. "": DefaultSubject.
	Subject string
	// Scopes the key grants.
	Scopes []string
	// Tier is the key's rate-limit tier. "": none.
	Tier string
	// Expires ends the key. Zero: never.
	Expires time.Time
}

// NewAPIKey mints a random key and returns it with its stored form: one
// line of a key file as package apikey reads it (the SHA-256 of the key,
// never the key). Write lines to a file with APIKeyFile.
func NewAPIKey(t TB, k APIKey) (key, stored string) {
	t.Helper()
	var b [32]byte
	_, _ = rand.Read(b[:])
	key = k.Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	if k.Subject == "" {
		k.Subject = DefaultSubject
	}
	sum := sha256.Sum256([]byte(key))
	rec := map[string]any{"hash": "sha256:" + hex.EncodeToString(sum[:]), "sub": k.Subject}
	if k.ID != "" {
		rec["id"] = k.ID
	}
	if len(k.Scopes) > 0 {
		rec["scopes"] = k.Scopes
	}
	if k.Tier != "" {
		rec["tier"] = k.Tier
	}
	if !k.Expires.IsZero() {
		rec["expires"] = k.Expires.UTC().Format(time.RFC3339Nano)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		t.Fatalf("jwtgatetest: %v", err)
	}
	return key, string(line)
}

// APIKeyFile writes stored lines (NewAPIKey's) to a new temporary key
// file, removed in t.Cleanup, and returns its path. Rewrite it with
// WriteAPIKeyFile to test reloading.
func APIKeyFile(t TB, stored ...string) string {
	t.Helper()
	f, err := os.CreateTemp("", "jwtgatetest-keys-*.jsonl")
	if err != nil {
		t.Fatalf("jwtgatetest: %v", err)
	}
	name := f.Name()
	_ = f.Close()
	t.Cleanup(func() { _ = os.Remove(name) })
	WriteAPIKeyFile(t, name, stored...)
	return name
}

// WriteAPIKeyFile replaces the key file name's content with stored lines,
// atomically (a rename), as an operator's deploy would.
func WriteAPIKeyFile(t TB, name string, stored ...string) {
	t.Helper()
	tmp := name + ".tmp"
	body := strings.Join(stored, "\n")
	if body != "" {
		body += "\n"
	}
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatalf("jwtgatetest: %v", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatalf("jwtgatetest: %v", err)
	}
}
