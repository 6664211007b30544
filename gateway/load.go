package gateway

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadFile reads a YAML config file. Unknown keys are errors, so a typo
// fails loudly instead of silently meaning "default".
func LoadFile(name string) (Config, error) {
	cfg, _, err := LoadFileDigest(name)
	return cfg, err
}

// LoadFileDigest is LoadFile that also returns the SHA-256 of the bytes it
// read: the exact content the Config came from, so that whoever watches
// the file compares a later read with what was decoded, not with a second
// read that an edit in between would make different. The digest is set
// whenever the file could be read, also when its content is refused (too
// large: the digest covers the bytes read), and zero when it could not.
func LoadFileDigest(name string) (Config, [sha256.Size]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return Config{}, [sha256.Size]byte{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return Config{}, [sha256.Size]byte{}, fmt.Errorf("%w: read %s: %w", ErrInvalidConfig, name, err)
	}
	sum := sha256.Sum256(b)
	if len(b) > maxConfigBytes {
		return Config{}, sum, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidConfig, name, maxConfigBytes)
	}
	cfg, err := decodeYAML(b)
	if err != nil {
		return cfg, sum, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, name, err)
	}
	return cfg, sum, nil
}

// ParseYAML decodes a config document without validating it.
func ParseYAML(b []byte) (Config, error) {
	cfg, err := decodeYAML(b)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return cfg, nil
}

// decodeYAML decodes b. When values have the wrong type (a
// *yaml.TypeError), the decoder goes on and the Config holds what did
// decode, so that Validate can report every other problem with them.
func decodeYAML(b []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		if _, partial := errors.AsType[*yaml.TypeError](err); partial {
			return cfg, err
		}
		return Config{}, err
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
