// Package transform is an example custom function: it writes person:<id>
// hashes into person_profiles with derived and converted columns
// (Profiles); cmd/transform is its main.
package transform

import (
	"context"
	"strings"

	"github.com/jetsync/jetsync/handlers"
)

// Profiles writes each person into one row of Table (see
// infra/sql/mysql/examples.sql):
//
//	full_name  = first_name + " " + last_name, trimmed (NULL when both are empty)
//	age        = age as an integer (a change whose age is not one is dead-lettered)
//	email      = email trimmed and lower-cased
//	signed_up  = signed_up as a time (RFC 3339, date, or Unix seconds)
//	updated_at = when the bridge saw the change
type Profiles struct {
	Table string
}

// Name and Version make Profiles a handlers.Named function.
func (Profiles) Name() string    { return "person-profiles" }
func (Profiles) Version() string { return "1" }

// Handle implements handlers.Function.
func (p Profiles) Handle(_ context.Context, b *handlers.Batch) error {
	for _, c := range b.Changes {
		key := []handlers.Column{{Name: "person_id", Value: c.ID}}
		if c.Op == handlers.OpDelete {
			b.Delete(p.Table, key)
			continue
		}
		age, err := c.Int("age")
		var signedUp any
		if err == nil {
			signedUp, err = c.Time("signed_up")
		}
		if err != nil {
			b.Fail(c, err)
			continue
		}
		b.Upsert(p.Table, key, []handlers.Column{
			{Name: "full_name", Value: nullIfEmpty(strings.TrimSpace(c.String("first_name") + " " + c.String("last_name")))},
			{Name: "age", Value: age},
			{Name: "email", Value: nullIfEmpty(strings.ToLower(strings.TrimSpace(c.String("email"))))},
			{Name: "signed_up", Value: signedUp},
			{Name: "updated_at", Value: c.Seen},
		})
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
