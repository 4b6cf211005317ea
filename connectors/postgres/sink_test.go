package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/postgres"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

func TestCheckTable(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	s := open(t, config(testenv.PostgresAddr()))
	tb := testenv.Name("t")
	testenv.Exec(t, db, "CREATE TABLE "+tb+" (id VARCHAR(64) PRIMARY KEY, a INT, b INT, c INT, UNIQUE (a, b))")
	t.Cleanup(func() { db.Exec("DROP TABLE " + tb) })
	tests := []struct {
		name    string
		table   string
		key     []string
		columns []string
		err     string
	}{
		{"primary key", tb, []string{"id"}, []string{"a", "b"}, ""},
		{"unique key", tb, []string{"b", "a"}, []string{"c"}, ""},
		{"history table needs no key", tb, nil, []string{"id", "c"}, ""},
		{"no such table", tb + "x", []string{"id"}, nil, "does not exist"},
		{"no such column", tb, []string{"id"}, []string{"a", "zz"}, "has no column zz"},
		{"key not unique", tb, []string{"c"}, nil, "not its primary key or a unique key"},
		{"names are exact", tb, []string{"ID"}, nil, "has no column ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckTable(context.Background(), tt.table, tt.key, tt.columns)
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("CheckTable = %v, want %q", err, tt.err)
			}
		})
	}
}

// TestPasswordFileReadPerConnection: the password file is read for every new
// connection (trust authentication ignores the password itself, so the test
// removes the file and expects new connections to fail naming it).
func TestPasswordFileReadPerConnection(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config(testenv.PostgresAddr())
	cfg.PasswordFile = pw
	s := open(t, cfg)
	tb := testenv.Name("t")
	testenv.Exec(t, db, "CREATE TABLE "+tb+" (id TEXT PRIMARY KEY)")
	t.Cleanup(func() { db.Exec("DROP TABLE " + tb) })
	write := func() error {
		return s.Write(context.Background(), handlers.Write{Ops: []handlers.Op{{Table: tb, Key: []handlers.Column{{Name: "id", Value: "1"}}}}})
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	os.Remove(pw)
	s.Pool().Reset()
	err := write()
	if err == nil || handlers.IsPermanent(err) || !strings.Contains(err.Error(), "JETSYNC_POSTGRES_PASSWORD_FILE") {
		t.Fatalf("write with the password file gone: %v; want a transient error naming the file variable", err)
	}
	if strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("error shows the password: %v", err)
	}
	os.WriteFile(pw, []byte("secret-value"), 0o600)
	testenv.Eventually(t, 10*time.Second, write)
}

func TestOpenRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cfg := config(testenv.PostgresAddr())
	cfg.Database = "no_such_database_jetsync"
	if _, err := postgres.Open(context.Background(), cfg, testenv.Logger(t)); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open = %v, want an unknown database", err)
	}
	cfg = config("localhost")
	if _, err := postgres.Open(context.Background(), cfg, testenv.Logger(t)); err == nil || !strings.Contains(err.Error(), "JETSYNC_POSTGRES_ADDR") {
		t.Fatalf("Open = %v, want an error naming JETSYNC_POSTGRES_ADDR", err)
	}
}

// TestConcurrentWritersOfOneKey: with several instances writing one key in
// any order, the newest sequence wins, including for a key never seen.
func TestConcurrentWritersOfOneKey(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	s := open(t, config(testenv.PostgresAddr()))
	tb := testenv.Name("t")
	testenv.Exec(t, db, "CREATE TABLE "+tb+" (id TEXT PRIMARY KEY, v BIGINT)")
	t.Cleanup(func() { db.Exec("DROP TABLE " + tb) })
	fn := testenv.Name("fn")
	t.Cleanup(func() { s.Forget(context.Background(), fn) })
	done := make(chan struct{})
	for i := 1; i <= 40; i++ {
		go func(seq uint64) {
			defer func() { done <- struct{}{} }()
			var err error
			for range 100 { // serialization failures and deadlocks are transient: retried, as the runtime would
				err = s.Write(context.Background(), handlers.Write{Function: fn, Changes: []handlers.KeySeq{{Key: "p:hot", Seq: seq}},
					Ops: []handlers.Op{{Table: tb, Key: []handlers.Column{{Name: "id", Value: "hot"}}, Values: []handlers.Column{{Name: "v", Value: seq}}}}})
				if err == nil || strings.Contains(err.Error(), "already applied") {
					return
				}
				if handlers.IsPermanent(err) {
					break
				}
			}
			t.Errorf("writer %d: still failing after 100 attempts: %v", seq, err)
		}(uint64(i))
	}
	for range 40 {
		<-done
	}
	var v int64
	if err := db.QueryRow("SELECT v FROM " + tb + " WHERE id = 'hot'").Scan(&v); err != nil || v != 40 {
		t.Fatalf("hot key %d, %v; want 40", v, err)
	}
}
