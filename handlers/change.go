package handlers

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jetsync/jetsync/bridge/change"
)

// OpUpsert and OpDelete are a Change's operations (change.Upsert and
// change.Delete), so that a function needs no other package to tell them
// apart.
const (
	OpUpsert = change.Upsert
	OpDelete = change.Delete
)

// Change is a change as a function sees it: the bridge's change plus where
// it sits in the stream, with typed access to its fields.
//
// The typed getters return a pointer that is nil when the field is absent or
// blank, so the result can be a column's value as it is (nil is NULL). Their
// error names the field and the key and is permanent (errors.Is(err, ErrPermanent)): pass it to Batch.Fail and the
// change goes to the dead-letter stream with that reason.
type Change struct {
	change.Change
	// Seq is the change's place in its key's order: its stream sequence,
	// the first one for a requeued dead letter, or, for a change stored
	// late by a superseded bridge, the newer bridge's epoch marker (see
	// fence.go).
	Seq uint64
	// StreamSeq is the stream sequence of the message that carried it:
	// unique per message, where Seq is not (late changes of several keys
	// share the marker that superseded them).
	StreamSeq uint64
	// Subject is the subject it was published on.
	Subject string
	// epoch is the bridge generation that published it (zero: none).
	epoch epochKey
}

// Has reports whether the hash has field.
func (c Change) Has(field string) bool {
	_, ok := c.Fields[field]
	return ok
}

// String returns the field's value, or "" when the hash has no such field.
func (c Change) String(field string) string { return c.Fields[field] }

// Nullable returns the field's value, or nil (NULL) when the hash lacks it.
func (c Change) Nullable(field string) any {
	if v, ok := c.Fields[field]; ok {
		return v
	}
	return nil
}

func (c Change) fieldErr(field, value, want string) error {
	return Permanent(fmt.Errorf("field %q of %s: %q is not %s", field, c.Key, value, want))
}

// present returns the trimmed value of field; ok is false when it is absent
// or blank, which the typed getters read as NULL.
func (c Change) present(field string) (string, bool) {
	v, ok := c.Fields[field]
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// Int returns the field as an integer.
func (c Change) Int(field string) (*int64, error) {
	v, ok := c.present(field)
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, c.fieldErr(field, v, "an integer")
	}
	return &n, nil
}

// Float returns the field as a float.
func (c Change) Float(field string) (*float64, error) {
	v, ok := c.present(field)
	if !ok {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return nil, c.fieldErr(field, v, "a number")
	}
	return &f, nil
}

// Bool returns the field as a bool (1/0, true/false, yes/no, on/off, any
// case).
func (c Change) Bool(field string) (*bool, error) {
	v, ok := c.present(field)
	if !ok {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes", "y", "on":
		b = true
		return &b, nil
	case "0", "f", "false", "no", "n", "off":
		return &b, nil
	}
	return nil, c.fieldErr(field, v, "a boolean")
}

// Time returns the field as a UTC time: RFC 3339, "2006-01-02 15:04:05",
// "2006-01-02", or Unix seconds.
func (c Change) Time(field string) (*time.Time, error) {
	v, ok := c.present(field)
	if !ok {
		return nil, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		t := time.Unix(n, 0).UTC()
		return &t, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, c.fieldErr(field, v, "a time (RFC 3339, 2006-01-02 15:04:05, 2006-01-02 or Unix seconds)")
}

// JSON decodes the field into v; it reports false when the field is absent
// or blank (v is then untouched).
func (c Change) JSON(field string, v any) (bool, error) {
	s, ok := c.present(field)
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return false, Permanent(fmt.Errorf("field %q of %s is not valid JSON for %T: %w", field, c.Key, v, err))
	}
	return true, nil
}
