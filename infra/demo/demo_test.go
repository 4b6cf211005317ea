package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the demo to the end (--exit) from the repository root on a
// persons table that already holds 20,000 rows sorting before the seed's:
// it finds the seed's rows by key. A second demo on the same store is
// refused while the first holds it.
func TestDemo(t *testing.T) {
	if err := os.Chdir("../.."); err != nil {
		t.Fatal(err)
	}
	db, err := openMySQL()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema, err := os.ReadFile("infra/sql/mysql/seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(schema)); err != nil {
		t.Fatal(err)
	}
	var values []string
	for i := range 20000 {
		values = append(values, fmt.Sprintf("('0-demo-test-%05d', 'x', 'y', 1)", i))
	}
	if _, err := db.Exec("INSERT IGNORE INTO persons (person_id, first, last, age) VALUES " + strings.Join(values, ", ")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DELETE FROM persons WHERE person_id LIKE '0-demo-test-%'") })

	unlock, err := lock(filepath.Join(state, "lock"))
	if err != nil {
		t.Fatalf("the store is locked already (a demo runs?): %v", err)
	}
	if err := Run(context.Background(), Options{Exit: true, Timeout: time.Minute, Out: io.Discard}); err == nil || !strings.Contains(err.Error(), "another demo is running") {
		t.Fatalf("a second demo: %v, want it refused", err)
	}
	unlock()

	var out strings.Builder
	if err := Run(context.Background(), Options{Exit: true, Timeout: 2 * time.Minute, Out: &out}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"JETSYNC_NATS_URL=nats://127.0.0.1:", "jetsync status", "the seed's rows landed"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the demo did not say %q:\n%s", want, out.String())
		}
	}
}
