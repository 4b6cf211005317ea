package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestCheckKeyExact: character(n) and nondeterministic collations are
// refused with the column and the fix; text and varchar pass.
func TestCheckKeyExact(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	s := open(t, config(testenv.PostgresAddr()))
	coll := testenv.Name("ci")
	if _, err := db.Exec(`CREATE COLLATION ` + coll + ` (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`); err != nil {
		t.Logf("no ICU collation on this server (%v); that case is skipped", err)
		coll = ""
	} else {
		t.Cleanup(func() { db.Exec("DROP COLLATION " + coll) })
	}
	for _, tc := range []struct {
		name, column, want string
	}{
		{"character(n)", "id CHARACTER(16) PRIMARY KEY", "ignores trailing spaces"},
		{"nondeterministic collation", "id TEXT COLLATE " + coll + " PRIMARY KEY", "nondeterministic"},
		{"varchar", "id VARCHAR(64) PRIMARY KEY", ""},
		{"text C", `id TEXT COLLATE "C" PRIMARY KEY`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if coll == "" && strings.Contains(tc.name, "nondeterministic") {
				t.Skip("no ICU on this PostgreSQL")
			}
			table := testenv.Name("keys")
			testenv.Exec(t, db, "CREATE TABLE "+table+" ("+tc.column+", v TEXT)")
			t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
			err := s.CheckKeyExact(context.Background(), table, "id")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				testenv.Exec(t, db, "INSERT INTO "+table+" (id) VALUES ('person:Case'), ('person:case'), ('a'), ('a '), ('e'), ('é')")
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "JETSYNC_KEY_COLLATION=any") {
				t.Fatalf("error %v, want one saying %q and naming the override", err, tc.want)
			}
			if _, err := db.Exec("INSERT INTO " + table + " (id) VALUES ('person:Case'), ('person:case'), ('a'), ('a '), ('e'), ('é')"); err == nil {
				t.Fatalf("%s keeps every key apart; the check refused it for nothing", tc.column)
			}
		})
	}
}
