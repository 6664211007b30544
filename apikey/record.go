package apikey

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unsafe"
)

// Record is what a store keeps for one key: its SHA-256, never the key,
// and what the key grants. It is one line of a key file (JSON Lines), the
// stored form Mint prints.
type Record struct {
	// ID names the key in logs and metrics ("" allowed).
	ID string `json:"id,omitempty"`
	// Hash is "sha256:" and the lower-case hex SHA-256 of the key.
	Hash string `json:"hash"`
	// Subject is the sub of the claims the key is verified as. Required.
	Subject string `json:"sub"`
	// Scopes the key grants.
	Scopes []string `json:"scopes,omitempty"`
	// Tier is the key's rate-limit tier.
	Tier string `json:"tier,omitempty"`
	// Expires ends the key (RFC 3339). Zero: never.
	Expires time.Time `json:"expires,omitzero"`
}

// hashPrefix names the only hash a Record may use.
const hashPrefix = "sha256:"

// MaxKeySize was the Store's own bound on a key (bytes).
//
// Deprecated: the Verifier bounds every credential, an API key included,
// by middleware.Config.MaxTokenSize where it reads it, once; the Store
// does not check the size again.
const MaxKeySize = 512

// Hash returns the stored form of key's hash ("sha256:…"). Keys must be
// high-entropy (Mint's are 256 random bits): a plain hash is then as good
// as a slow one, and a look-up costs one SHA-256.
func Hash(key string) string {
	s := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(s[:])
}

// Sum returns the SHA-256 of key, the form a Source is asked by.
func Sum(key string) [32]byte {
	// Without copying key: Sum256 only reads its argument, and the copy
	// would cost every look-up an allocation.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// sum reads a Record's Hash back into bytes.
func (r *Record) sum() ([32]byte, error) {
	var s [32]byte
	h, ok := strings.CutPrefix(r.Hash, hashPrefix)
	if !ok || len(h) != 64 {
		return s, fmt.Errorf("%w: hash must be %q and 64 hex digits", ErrInvalidRecord, hashPrefix)
	}
	if _, err := hex.Decode(s[:], []byte(h)); err != nil || strings.ToLower(h) != h {
		return s, fmt.Errorf("%w: hash is not lower-case hex", ErrInvalidRecord)
	}
	return s, nil
}

func (r *Record) validate() error {
	if _, err := r.sum(); err != nil {
		return err
	}
	if r.Subject == "" {
		return fmt.Errorf("%w: sub is empty", ErrInvalidRecord)
	}
	for _, s := range append([]string{r.ID, r.Subject, r.Tier}, r.Scopes...) {
		if strings.ContainsAny(s, "\r\n\x00") {
			return fmt.Errorf("%w: a value has a line break or NUL", ErrInvalidRecord)
		}
	}
	for _, s := range r.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\"\\") {
			return fmt.Errorf("%w: scope %q has spaces, quotes or backslashes", ErrInvalidRecord, s)
		}
	}
	return nil
}

// Mint makes a new key: prefix (letters, digits, '_' or '-', at most 16)
// and 256 random bits in base64url. It returns the key, to hand to the
// client once, and rec with its Hash set: the stored form.
func Mint(prefix string, rec Record) (string, Record, error) {
	if len(prefix) > 16 || strings.TrimFunc(prefix, keyChar) != "" {
		return "", rec, fmt.Errorf("%w: prefix %q: at most 16 letters, digits, '_' or '-'", ErrInvalidRecord, prefix)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", rec, err
	}
	key := prefix + base64.RawURLEncoding.EncodeToString(b[:])
	rec.Hash = Hash(key)
	if err := rec.validate(); err != nil {
		return "", rec, err
	}
	return key, rec, nil
}

func keyChar(r rune) bool {
	return r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}

// MarshalLine returns rec as one line of a key file (with its newline).
func (r Record) MarshalLine() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// maxLine bounds one line of a key file.
const maxLine = 64 << 10

// ParseRecords reads a key file: JSON Lines, one Record per line; blank
// lines and lines starting with '#' are skipped. Every record must be
// valid and no hash may appear twice; the error names the line, never a
// value.
func ParseRecords(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var out []Record
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var rec Record
		if err := dec.Decode(&rec); err != nil || dec.More() {
			return nil, fmt.Errorf("%w: line %d is not one record", ErrInvalidRecord, n)
		}
		if err := rec.validate(); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if prev, dup := seen[rec.Hash]; dup {
			return nil, fmt.Errorf("%w: line %d repeats the key of line %d", ErrInvalidRecord, n, prev)
		}
		seen[rec.Hash] = n
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	return out, nil
}
