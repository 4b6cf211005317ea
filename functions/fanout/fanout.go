// Package fanout is an example custom function: each person:<id> hash
// becomes a persons row and a person_emails row, in one transaction
// (FanOut); cmd/fanout is its main.
package fanout

import (
	"context"
	"strings"

	"github.com/jetsync/jetsync/handlers"
)

var personColumns = handlers.Mapping{{Field: "first_name", Column: "first"}, {Field: "last_name", Column: "last"}, {Field: "age", Column: "age"}}

// FanOut writes one person:<id> hash into two tables, in the batch's one
// transaction: Persons gets first, last and age; Emails gets the email
// (lower-cased), or loses its row when the hash has no email. A delete
// deletes both rows.
type FanOut struct {
	Persons, Emails string
}

// Name and Version make FanOut a handlers.Named function.
func (FanOut) Name() string    { return "persons-fanout" }
func (FanOut) Version() string { return "1" }

// Handle implements handlers.Function.
func (f FanOut) Handle(_ context.Context, b *handlers.Batch) error {
	for _, c := range b.Changes {
		key := []handlers.Column{{Name: "person_id", Value: c.ID}}
		if c.Op == handlers.OpDelete {
			b.Delete(f.Persons, key)
			b.Delete(f.Emails, key)
			continue
		}
		b.Upsert(f.Persons, key, personColumns.Values(c.Fields))
		if email := strings.ToLower(strings.TrimSpace(c.String("email"))); email != "" {
			b.Upsert(f.Emails, key, []handlers.Column{{Name: "email", Value: email}})
		} else {
			b.Delete(f.Emails, key)
		}
	}
	return nil
}
