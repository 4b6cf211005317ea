package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckKeyExact: NOCASE and RTRIM key columns are refused with the
// column and the fix; the default collation (BINARY) passes.
func TestCheckKeyExact(t *testing.T) {
	t.Parallel()
	s := open(t, config(filepath.Join(t.TempDir(), "k.db")))
	for i, tc := range []struct {
		column, want string
	}{
		{"id TEXT COLLATE NOCASE PRIMARY KEY", "NOCASE"},
		{"id TEXT PRIMARY KEY COLLATE RTRIM", "RTRIM"},
		{"id TEXT PRIMARY KEY", ""},
		{"id TEXT NOT NULL UNIQUE", ""},
	} {
		t.Run(tc.column, func(t *testing.T) {
			table := "k" + string(rune('a'+i))
			if _, err := s.DB().Exec("CREATE TABLE " + table + " (" + tc.column + ", v TEXT)"); err != nil {
				t.Fatal(err)
			}
			err := s.CheckKeyExact(context.Background(), table, "id")
			folds := func() bool {
				_, err := s.DB().Exec("INSERT INTO " + table + " (id) VALUES ('person:Case'), ('person:case'), ('a'), ('a ')")
				return err != nil
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if folds() {
					t.Fatal("the table merges distinct keys, and the check let it pass")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "JETSYNC_KEY_COLLATION=any") {
				t.Fatalf("error %v, want one naming %s and the override", err, tc.want)
			}
			if !folds() {
				t.Fatal("the table keeps every key apart; the check refused it for nothing")
			}
		})
	}
}
