package platform

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret is a credential given literally in the environment. It prints as
// "[redacted]" so that a logged config never shows it.
type Secret string

// String hides the value.
func (Secret) String() string { return "[redacted]" }

// GoString hides the value from %#v too.
func (Secret) GoString() string { return "[redacted]" }

// MarshalText hides the value from JSON and text encoders (slog's too).
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// SecretSource is a secret given either literally (VAR) or as the path of a
// file holding it (VAR_FILE, a mounted secret). The file is read on every
// Read, so a rotated secret is picked up by the next connection.
type SecretSource struct {
	Name    string // the literal's variable, for messages: "JETSYNC_MYSQL_PASSWORD"
	Literal Secret
	File    string
}

// Validate checks that at most one form is given and that the file is readable.
func (s SecretSource) Validate() error {
	if s.Literal != "" && s.File != "" {
		return fmt.Errorf("%s and %s_FILE are both set: set only one", s.Name, s.Name)
	}
	if s.File != "" {
		if _, err := s.Read(); err != nil {
			return err
		}
	}
	return nil
}

// Read returns the secret. Trailing newlines of a file are dropped. Errors
// name the file, never the content.
func (s SecretSource) Read() (string, error) {
	if s.File == "" {
		return string(s.Literal), nil
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("%s_FILE: cannot read %s: %w", s.Name, s.File, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
