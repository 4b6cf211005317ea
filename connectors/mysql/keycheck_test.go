package mysql_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestCheckKeyExact: key columns that would make distinct Redis keys one
// row are refused with the column, its collation and the fix; byte-exact
// ones pass. The folding cases also show the folding on the server.
func TestCheckKeyExact(t *testing.T) {
	t.Parallel()
	db := testenv.MySQL(t)
	s := open(t, config(testenv.MySQLAddr()))
	for _, tc := range []struct {
		name, column, want string
	}{
		{"default collation", "id VARCHAR(64) PRIMARY KEY", "utf8mb4_general_ci"},
		{"binary but PAD SPACE", "id VARCHAR(64) COLLATE utf8mb4_bin PRIMARY KEY", "utf8mb4_bin"},
		{"padded binary", "id BINARY(16) PRIMARY KEY", "pads values"},
		{"NO PAD binary collation", "id VARCHAR(64) COLLATE utf8mb4_nopad_bin PRIMARY KEY", ""},
		{"varbinary", "id VARBINARY(255) PRIMARY KEY", ""},
		{"integer", "id BIGINT PRIMARY KEY", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := testenv.Name("keys")
			testenv.Exec(t, db, "CREATE TABLE "+table+" ("+tc.column+", v VARCHAR(8)) DEFAULT CHARSET=utf8mb4")
			t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
			err := s.CheckKeyExact(context.Background(), table, "id")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(tc.column, "INT") { // the server keeps both keys apart
					testenv.Exec(t, db, "INSERT INTO "+table+" (id) VALUES ('person:Case'), ('person:case'), ('a'), ('a '), ('e'), ('é')")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"id"`) || !strings.Contains(err.Error(), "JETSYNC_KEY_COLLATION=any") {
				t.Fatalf("error %v, want one naming the column, %q and the override", err, tc.want)
			}
			if !strings.Contains(tc.column, "BINARY(16)") { // the server folds them, as the check said
				if _, err := db.Exec("INSERT INTO " + table + " (id) VALUES ('person:Case'), ('person:case'), ('a'), ('a '), ('e'), ('é')"); err == nil {
					t.Fatalf("%s keeps every key apart; the check refused it for nothing", tc.column)
				}
			}
		})
	}
}
