package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

func config(addr string) mysql.Config {
	return mysql.Config{Addr: addr, User: "root", Database: "test", TLS: "false", MaxConns: 2, Timeout: 2 * time.Second}
}

func open(t *testing.T, cfg mysql.Config) *mysql.Sink {
	t.Helper()
	s, err := mysql.Open(context.Background(), cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func table(t *testing.T, db *sql.DB, columns string) string {
	t.Helper()
	name := testenv.Name("t")
	testenv.Exec(t, db, fmt.Sprintf("CREATE TABLE %s (%s) DEFAULT CHARSET=utf8mb4", name, columns))
	t.Cleanup(func() { db.Exec("DROP TABLE " + name) })
	return name
}

func col(name string, v any) handlers.Column { return handlers.Column{Name: name, Value: v} }

func TestWrite(t *testing.T) {
	t.Parallel()
	db := testenv.MySQL(t)
	s := open(t, config(testenv.MySQLAddr()))
	tb := table(t, db, "id VARCHAR(64) PRIMARY KEY, name VARCHAR(64), age INT, note VARCHAR(16) DEFAULT 'keep'")
	ctx := context.Background()
	key := func(id string) []handlers.Column { return []handlers.Column{col("id", id)} }

	err := s.Write(ctx, handlers.Write{Ops: []handlers.Op{
		{Table: tb, Key: key("1"), Values: []handlers.Column{col("name", "Marek"), col("age", "27")}},
		{Table: tb, Key: key("2"), Values: []handlers.Column{col("name", "Łucja ☃"), col("age", nil)}},
		{Table: tb, Key: key("3"), Values: []handlers.Column{col("name", "gone"), col("age", "1")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, handlers.Write{Ops: []handlers.Op{
		{Table: tb, Key: key("1"), Values: []handlers.Column{col("name", "Marek"), col("age", "28")}},
		{Delete: true, Table: tb, Key: key("3")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(fmt.Sprintf("SELECT id, name, age, note FROM %s ORDER BY id", tb))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, name, note sql.NullString
		var age sql.NullInt64
		if err := rows.Scan(&id, &name, &age, &note); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s|%s|%v|%d|%s", id.String, name.String, age.Valid, age.Int64, note.String))
	}
	want := "1|Marek|true|28|keep 2|Łucja ☃|false|0|keep"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows %q, want %q", strings.Join(got, " "), want)
	}
}

func TestWriteIsOneTransaction(t *testing.T) {
	t.Parallel()
	db := testenv.MySQL(t)
	s := open(t, config(testenv.MySQLAddr()))
	tb := table(t, db, "id VARCHAR(64) PRIMARY KEY, name VARCHAR(4)")
	err := s.Write(context.Background(), handlers.Write{Ops: []handlers.Op{
		{Table: tb, Key: []handlers.Column{col("id", "1")}, Values: []handlers.Column{col("name", "ok")}},
		{Delete: true, Table: tb, Key: []handlers.Column{col("id", "x")}},
		{Table: tb, Key: []handlers.Column{col("id", "2")}, Values: []handlers.Column{col("name", "too long")}},
	}})
	if err == nil {
		t.Fatal("write of a too-long value succeeded")
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + tb).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d rows after a failed write, want 0 (rolled back)", n)
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	db := testenv.MySQL(t)
	s := open(t, config(testenv.MySQLAddr()))
	tb := table(t, db, "id VARCHAR(64) PRIMARY KEY, name VARCHAR(4) NOT NULL DEFAULT '', age TINYINT")
	tests := []struct {
		name      string
		values    []handlers.Column
		permanent bool
	}{
		{"too long", []handlers.Column{col("name", "12345")}, true},
		{"wrong type", []handlers.Column{col("age", "twenty")}, true},
		{"out of range", []handlers.Column{col("age", "1000")}, true},
		{"not null", []handlers.Column{col("name", nil)}, true},
		{"fine", []handlers.Column{col("name", "ok"), col("age", "5")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Write(context.Background(), handlers.Write{Ops: []handlers.Op{{Table: tb, Key: []handlers.Column{col("id", tt.name)}, Values: tt.values}}})
			if tt.permanent != handlers.IsPermanent(err) || (!tt.permanent && err != nil) {
				t.Fatalf("Write error = %v, permanent %v; want permanent %v", err, handlers.IsPermanent(err), tt.permanent)
			}
		})
	}

	t.Run("server stopped is transient", func(t *testing.T) {
		proxy := testenv.NewProxy(t, testenv.MySQLAddr())
		s := open(t, config(proxy.Addr))
		proxy.Cut()
		err := s.Write(context.Background(), handlers.Write{Ops: []handlers.Op{{Table: tb, Key: []handlers.Column{col("id", "p")}, Values: []handlers.Column{col("name", "ok")}}}})
		if err == nil || handlers.IsPermanent(err) {
			t.Fatalf("Write error = %v; want a transient error", err)
		}
		proxy.Restore()
		testenv.Eventually(t, 10*time.Second, func() error {
			return s.Write(context.Background(), handlers.Write{Ops: []handlers.Op{{Table: tb, Key: []handlers.Column{col("id", "p")}, Values: []handlers.Column{col("name", "ok")}}}})
		})
	})
}

func TestCheckTable(t *testing.T) {
	t.Parallel()
	db := testenv.MySQL(t)
	s := open(t, config(testenv.MySQLAddr()))
	tb := table(t, db, "id VARCHAR(64) PRIMARY KEY, a INT, b INT, UNIQUE KEY ab (a, b)")
	ctx := context.Background()
	tests := []struct {
		name    string
		table   string
		key     []string
		columns []string
		want    string
	}{
		{"ok", tb, []string{"id"}, []string{"a", "b"}, ""},
		{"case-insensitive", tb, []string{"ID"}, []string{"A"}, ""},
		{"composite unique key", tb, []string{"b", "a"}, []string{"id"}, ""},
		{"missing table", "nope_" + tb, []string{"id"}, nil, "does not exist"},
		{"missing columns", tb, []string{"id"}, []string{"a", "c", "d"}, "has no column c, d"},
		{"not unique", tb, []string{"a"}, nil, "not its primary key or a unique key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckTable(ctx, tt.table, tt.key, tt.columns)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("CheckTable = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestPasswordFileRotation: the password file is read again for every new
// connection, so a rotated secret works without a restart.
func TestPasswordFileRotation(t *testing.T) {
	t.Parallel()
	db := testenv.MySQL(t)
	user := testenv.Name("u")
	testenv.Exec(t, db, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'first-secret'", user))
	t.Cleanup(func() { db.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	tb := table(t, db, "id VARCHAR(64) PRIMARY KEY")
	open(t, config(testenv.MySQLAddr())) // root creates jetsync's state tables
	for _, name := range []string{tb, "jetsync_applied", "jetsync_checkpoints"} {
		testenv.Exec(t, db, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON test.%s TO '%s'@'%%'", name, user))
	}

	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte("first-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config(testenv.MySQLAddr())
	cfg.User, cfg.PasswordFile = user, pwFile
	s := open(t, cfg)
	write := func(id string) error {
		return s.Write(context.Background(), handlers.Write{Ops: []handlers.Op{{Table: tb, Key: []handlers.Column{col("id", id)}}}})
	}
	if err := write("1"); err != nil {
		t.Fatal(err)
	}

	testenv.Exec(t, db, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY 'second-secret'", user))
	if err := os.WriteFile(pwFile, []byte("second-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Drop the sink's open connections so that it must log in again.
	testenv.KillConnections(t, db, user)
	testenv.Eventually(t, 10*time.Second, func() error { return write("2") })

	// The old password no longer works: a sink that keeps it is refused.
	cfg.PasswordFile, cfg.Password = "", "first-secret"
	_, err := mysql.Open(context.Background(), cfg, testenv.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Fatalf("Open with the old password: %v, want access denied", err)
	}
	if strings.Contains(err.Error(), "first-secret") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	cfg := config(testenv.MySQLAddr())
	cfg.Database = "no_such_database_jetsync"
	_, err := mysql.Open(context.Background(), cfg, testenv.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "Unknown database") {
		t.Fatalf("Open = %v, want unknown database", err)
	}
	cfg = config("localhost")
	if _, err := mysql.Open(context.Background(), cfg, testenv.Logger(t)); err == nil || !strings.Contains(err.Error(), "JETSYNC_MYSQL_ADDR") {
		t.Fatalf("Open = %v, want an error naming JETSYNC_MYSQL_ADDR", err)
	}
}

// TestSequenceGuard: a change not newer than the last one applied for its
// key is refused with a StaleError and changes nothing.
func TestSequenceGuard(t *testing.T) {
	t.Parallel()
	db := testenv.MySQL(t)
	s := open(t, config(testenv.MySQLAddr()))
	tb := table(t, db, "id VARCHAR(64) PRIMARY KEY, v VARCHAR(16)")
	fn := testenv.Name("fn")
	t.Cleanup(func() { s.Forget(context.Background(), fn) })
	ctx := context.Background()
	up := func(id, v string) handlers.Op {
		return handlers.Op{Table: tb, Key: []handlers.Column{col("id", id)}, Values: []handlers.Column{col("v", v)}}
	}
	del := func(id string) handlers.Op {
		return handlers.Op{Delete: true, Table: tb, Key: []handlers.Column{col("id", id)}}
	}
	write := func(function string, ks []handlers.KeySeq, ops ...handlers.Op) error {
		return s.Write(ctx, handlers.Write{Function: function, Changes: ks, Ops: ops})
	}
	row := func() string {
		var v sql.NullString
		err := db.QueryRow("SELECT v FROM " + tb + " WHERE id = 'k'").Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return "none"
		}
		if err != nil {
			t.Fatal(err)
		}
		return v.String
	}
	k := func(seq uint64) []handlers.KeySeq { return []handlers.KeySeq{{Key: "p:k", Seq: seq}} }

	steps := []struct {
		name    string
		err     func() error
		stale   bool
		wantRow string
	}{
		{"first", func() error { return write(fn, k(5), up("k", "five")) }, false, "five"},
		{"older", func() error { return write(fn, k(3), up("k", "three")) }, true, "five"},
		{"same again", func() error { return write(fn, k(5), up("k", "five-again")) }, true, "five"},
		{"delete", func() error { return write(fn, k(7), del("k")) }, false, "none"},
		{"stale upsert after delete", func() error { return write(fn, k(6), up("k", "six")) }, true, "none"},
		{"another function has its own guard", func() error { return write(fn+"x", k(1), up("k", "other")) }, false, "other"},
		{"newer", func() error { return write(fn, k(9), up("k", "nine")) }, false, "nine"},
	}
	for _, st := range steps {
		err := st.err()
		var se *handlers.StaleError
		if st.stale != errors.As(err, &se) || (!st.stale && err != nil) {
			t.Fatalf("%s: error %v, want stale %v", st.name, err, st.stale)
		}
		if got := row(); got != st.wantRow {
			t.Fatalf("%s: row %q, want %q", st.name, got, st.wantRow)
		}
	}
	if cp, err := s.Checkpoint(ctx, fn); err != nil || cp != 9 {
		t.Fatalf("checkpoint %d, %v; want 9", cp, err)
	}
	// A batch with one stale change writes nothing at all.
	err := write(fn, []handlers.KeySeq{{Key: "p:k", Seq: 8}, {Key: "p:other", Seq: 10}}, up("k", "eight"), up("other", "ten"))
	var se *handlers.StaleError
	if !errors.As(err, &se) || len(se.Stale) != 1 || se.Stale[0].Seq != 8 {
		t.Fatalf("mixed batch: %v, want only p:k@8 stale", err)
	}
	if n := count(t, db, tb); n != 1 {
		t.Fatalf("%d rows after a refused batch, want 1", n)
	}

	// Concurrent writers of one key: the newest sequence wins, whatever the order.
	fn2 := testenv.Name("fn")
	t.Cleanup(func() { s.Forget(context.Background(), fn2) })
	var wg sync.WaitGroup
	for i := 1; i <= 40; i++ {
		wg.Add(1)
		go func(seq uint64) {
			defer wg.Done()
			var err error
			for range 100 { // a deadlock or lock wait is transient: retried, as the runtime would
				err = write(fn2, []handlers.KeySeq{{Key: "p:hot", Seq: seq}}, up("hot", fmt.Sprint(seq)))
				var stale *handlers.StaleError
				if err == nil || errors.As(err, &stale) {
					return
				}
				if handlers.IsPermanent(err) {
					break
				}
			}
			t.Errorf("writer %d: still failing after 100 attempts: %v", seq, err)
		}(uint64(i))
	}
	wg.Wait()
	var v string
	if err := db.QueryRow("SELECT v FROM " + tb + " WHERE id = 'hot'").Scan(&v); err != nil || v != "40" {
		t.Fatalf("hot key %q, %v; want 40", v, err)
	}
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLockWaitIsTransient: a row held by another transaction past the lock
// wait timeout is a transient error (retried), not a dead letter.
func TestLockWaitIsTransient(t *testing.T) {
	t.Parallel()
	db := testenv.MySQL(t)
	cfg := config(testenv.MySQLAddr())
	cfg.MaxConns = 1
	s := open(t, cfg)
	tb := table(t, db, "id VARCHAR(64) PRIMARY KEY, v INT")
	testenv.Exec(t, db, "INSERT INTO "+tb+" VALUES ('k', 1)")
	ctx := context.Background()
	if _, err := s.DB().ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
		t.Fatal(err)
	}
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, "UPDATE "+tb+" SET v = 2 WHERE id = 'k'"); err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, handlers.Write{Ops: []handlers.Op{{Table: tb, Key: []handlers.Column{col("id", "k")}, Values: []handlers.Column{col("v", "3")}}}})
	if err == nil || handlers.IsPermanent(err) || !strings.Contains(err.Error(), "Lock wait timeout") {
		t.Fatalf("Write = %v; want a transient lock wait timeout", err)
	}
}

// TestGuardLockOrdersWriters makes the race the guard's claim closes, in a
// fixed order: a third transaction holds key k's guard entry (applied at
// 5); the writer of change 10 starts and waits, then the writer of change 9
// starts and waits; the holder lets go. The row must end with 10 and 9 be
// refused as stale. The control reads the applied order without claiming
// it (the guard before the claim): both writers see 5, 9 writes its row
// last, and the row goes back to 9.
func TestGuardLockOrdersWriters(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "claimed", "unlocked read", func(t *testing.T, unlocked bool) {
		db := testenv.MySQL(t)
		s := open(t, config(testenv.MySQLAddr()))
		sqlsink.WithSlowGuard(s.Sink, 0, unlocked)
		tb := table(t, db, "id VARCHAR(64) PRIMARY KEY, v VARCHAR(16)")
		fn := testenv.Name("fn")
		t.Cleanup(func() { s.Forget(context.Background(), fn) })
		ctx := context.Background()
		write := func(seq uint64, v string) error {
			return s.Write(ctx, handlers.Write{Function: fn, Changes: []handlers.KeySeq{{Key: "p:k", Seq: seq}},
				Ops: []handlers.Op{{Table: tb, Key: []handlers.Column{col("id", "k")}, Values: []handlers.Column{col("v", v)}}}})
		}
		if err := write(5, "five"); err != nil {
			t.Fatal(err)
		}
		holder, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback()
		var seq uint64
		if err := holder.QueryRowContext(ctx, "SELECT seq FROM jetsync_applied WHERE function_name = ? AND key_hash = ? FOR UPDATE", fn, connectors.KeyHash("p:k")).Scan(&seq); err != nil || seq != 5 {
			t.Fatalf("hold the guard entry: %d, %v", seq, err)
		}
		// waiting waits until n of the writers' statements are blocked
		// in the server (a statement of theirs still running).
		waiting := func(n int) {
			t.Helper()
			testenv.Eventually(t, 10*time.Second, func() error {
				var got int
				err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID() AND (INFO LIKE ? OR INFO LIKE ?)",
					"%"+fn+"%", "%"+tb+"%").Scan(&got)
				if err != nil || got != n {
					return fmt.Errorf("%d writers blocked (%v), want %d", got, err, n)
				}
				return nil
			})
		}
		errs := map[uint64]chan error{10: make(chan error, 1), 9: make(chan error, 1)}
		go func() { errs[10] <- write(10, "ten") }()
		waiting(1)
		go func() { errs[9] <- write(9, "nine") }()
		waiting(2)
		if err := holder.Rollback(); err != nil {
			t.Fatal(err)
		}
		err10, err9 := <-errs[10], <-errs[9]
		var row string
		if err := db.QueryRow("SELECT v FROM " + tb + " WHERE id = 'k'").Scan(&row); err != nil {
			t.Fatal(err)
		}
		if unlocked {
			if row != "nine" {
				t.Fatalf("control: row %q (10: %v, 9: %v); the unlocked guard should have let 9 overwrite 10", row, err10, err9)
			}
			return
		}
		var se *handlers.StaleError
		if err10 != nil || !errors.As(err9, &se) || row != "ten" {
			t.Fatalf("row %q; change 10: %v, change 9: %v; want ten, nil, stale", row, err10, err9)
		}
	})
}
