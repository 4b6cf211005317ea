package change

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Version is the format version this package writes. Decode accepts it and
// rejects any other with ErrUnknownVersion, so a later format can coexist.
const Version = 1

// Op is what happened to a key.
type Op string

const (
	// Upsert carries the whole current value of the key: a field that is not
	// in Fields any more was removed and becomes NULL.
	Upsert Op = "upsert"
	// Delete says the key is gone; Fields is empty.
	Delete Op = "delete"
)

// Change is one change of one Redis key, as the bridge publishes it.
type Change struct {
	V      int               `json:"v"`
	Key    string            `json:"key"`
	Prefix string            `json:"prefix"`
	ID     string            `json:"id"`
	Op     Op                `json:"op"`
	Fields map[string]string `json:"fields,omitempty"`
	// Seen is when the bridge read the key.
	Seen time.Time `json:"seen"`
}

// Errors returned by Decode and SplitKey; they stay errors.Is-comparable
// through wrapping. All of them mean the message can never be applied.
var (
	ErrMalformed      = errors.New("malformed change")
	ErrUnknownVersion = errors.New("unknown change format version")
	ErrMissingID      = errors.New("change has no id")
)

// SplitKey splits "<prefix>:<id>" at the first ':'.
func SplitKey(key string) (prefix, id string, err error) {
	prefix, id, ok := strings.Cut(key, ":")
	if !ok || prefix == "" {
		return "", "", fmt.Errorf("%w: key %q is not <prefix>:<id>", ErrMalformed, key)
	}
	if id == "" {
		return "", "", fmt.Errorf("%w: key %q", ErrMissingID, key)
	}
	return prefix, id, nil
}

// New returns a change of key with the current format version.
func New(key string, op Op, fields map[string]string, seen time.Time) (Change, error) {
	prefix, id, err := SplitKey(key)
	if err != nil {
		return Change{}, err
	}
	return Change{V: Version, Key: key, Prefix: prefix, ID: id, Op: op, Fields: fields, Seen: seen}, nil
}

// Encode returns the JSON body of c.
func (c Change) Encode() ([]byte, error) {
	return json.Marshal(c)
}

// Decode parses and checks a message body. Every error it returns is
// permanent: the same bytes will never decode.
func Decode(data []byte) (Change, error) {
	var c Change
	if err := json.Unmarshal(data, &c); err != nil {
		return Change{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.V != Version {
		return Change{}, fmt.Errorf("%w: v=%d, this build reads v=%d", ErrUnknownVersion, c.V, Version)
	}
	if c.ID == "" {
		return Change{}, fmt.Errorf("%w: key %q", ErrMissingID, c.Key)
	}
	switch c.Op {
	case Upsert, Delete:
	default:
		return Change{}, fmt.Errorf("%w: unknown op %q for key %q", ErrMalformed, c.Op, c.Key)
	}
	if c.Key != c.Prefix+":"+c.ID {
		return Change{}, fmt.Errorf("%w: key %q does not match prefix %q and id %q", ErrMalformed, c.Key, c.Prefix, c.ID)
	}
	return c, nil
}
