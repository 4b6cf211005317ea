// Package filter is an example custom function: it writes person:<id>
// hashes into persons like the table function, but skips test users
// (NoTestUsers); cmd/filter is its main.
package filter

import (
	"context"
	"strings"

	"github.com/jetsync/jetsync/handlers"
)

// mapping is the seed's persons mapping.
var mapping = handlers.Mapping{{Field: "first_name", Column: "first"}, {Field: "last_name", Column: "last"}, {Field: "age", Column: "age"}}

// NoTestUsers writes persons as the table function does, except test users:
// ids that start with SkipIDPrefix, and hashes whose is_test field is true.
// A skipped change writes nothing and is acked like any other.
type NoTestUsers struct {
	Table        string
	SkipIDPrefix string
}

// Name and Version make NoTestUsers a handlers.Named function.
func (NoTestUsers) Name() string    { return "persons-no-test-users" }
func (NoTestUsers) Version() string { return "1" }

// Handle implements handlers.Function.
func (f NoTestUsers) Handle(_ context.Context, b *handlers.Batch) error {
	for _, c := range b.Changes {
		if f.SkipIDPrefix != "" && strings.HasPrefix(c.ID, f.SkipIDPrefix) {
			continue
		}
		key := []handlers.Column{{Name: "person_id", Value: c.ID}}
		if c.Op == handlers.OpDelete {
			b.Delete(f.Table, key)
			continue
		}
		isTest, err := c.Bool("is_test")
		if err != nil {
			b.Fail(c, err)
			continue
		}
		if isTest != nil && *isTest {
			continue
		}
		b.Upsert(f.Table, key, mapping.Values(c.Fields))
	}
	return nil
}
