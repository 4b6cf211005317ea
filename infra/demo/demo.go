// Package demo runs the seed example end to end on this machine: a
// nats-server (unless JETSYNC_NATS_URL is set), the bridge and the persons
// and cars table functions as separate processes configured only by
// environment (infra/harness builds and runs them), the seed's HSETs, and
// the rows as they land in MariaDB.
package demo

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/infra/harness"
)

// state is where the demo keeps its NATS store, logs and binaries, under
// the repository root; it is in .gitignore.
const state = ".demo"

// DefaultTimeout is how long Run waits for the seed's rows by default.
const DefaultTimeout = 2 * time.Minute

// Options are the demo's flags.
type Options struct {
	// Exit stops the demo once the seed's rows are in MariaDB.
	Exit bool
	// Timeout is how long to wait for the seed's rows.
	Timeout time.Duration
	// Out receives the demo's lines and its processes' output.
	Out io.Writer
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Run runs the demo until ctx ends (or, with o.Exit, until the seed's rows
// landed). It returns nil when it stops on ctx.
func Run(ctx context.Context, o Options) error {
	if _, err := os.Stat("infra/sql/mysql/seed.sql"); err != nil {
		return fmt.Errorf("run the demo from the repository root (go tool task demo): %w", err)
	}
	out := &lines{w: o.Out}
	say := func(format string, args ...any) { out.say("demo", fmt.Sprintf(format, args...)) }
	unlock, err := lock(filepath.Join(state, "lock"))
	if err != nil {
		return err
	}
	defer unlock()

	say("building nats-server, the bridge and the table function into %s/bin", state)
	bin, err := harness.Build(ctx, filepath.Join(state, "bin"))
	if err != nil {
		return err
	}
	natsURL := os.Getenv("JETSYNC_NATS_URL")
	if natsURL == "" {
		ns, err := harness.NewNATSServer(bin.NATSServer, filepath.Join(state, "nats"), filepath.Join(state, "nats.log"))
		if err != nil {
			return err
		}
		if err := ns.Start(); err != nil {
			return fmt.Errorf("nats-server: %w", err)
		}
		defer ns.Stop(10 * time.Second)
		natsURL = ns.URL()
		say("nats-server %s with JetStream, store in %s/nats (log %s/nats.log)", natsURL, state, state)
		say("in another terminal: JETSYNC_NATS_URL=%s go run ./infra/cmd/jetsync status", natsURL)
	} else {
		say("using NATS at JETSYNC_NATS_URL")
	}

	db, err := openMySQL()
	if err != nil {
		return err
	}
	defer db.Close()
	schema, err := os.ReadFile("infra/sql/mysql/seed.sql")
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, string(schema)); err != nil {
		return fmt.Errorf("create the seed's tables: %w", err)
	}
	say("tables persons and cars are ready (infra/sql/mysql/seed.sql)")

	common := []string{"JETSYNC_NATS_URL=" + natsURL, "JETSYNC_LOG_FORMAT=text"}
	procs := []*harness.Proc{{Name: "bridge", Path: bin.Bridge, Env: append(os.Environ(), append(common, "JETSYNC_PREFIXES=person,car")...)}}
	for _, fn := range []string{"persons", "cars"} {
		vars, err := readEnvFile(filepath.Join("functions", "table", fn+".env"))
		if err != nil {
			return err
		}
		procs = append(procs, &harness.Proc{Name: fn, Path: bin.Table, Env: append(os.Environ(), append(vars, common...)...)})
	}
	for _, p := range procs {
		p.Out = out.prefixed(p.Name)
		if err := p.Start(); err != nil {
			return err
		}
		defer p.Stop(15 * time.Second)
	}

	rdb := redis.NewClient(&redis.Options{Addr: env("JETSYNC_REDIS_ADDR", "127.0.0.1:6379")})
	defer rdb.Close()
	time.Sleep(time.Second) // let the bridge subscribe; its resync would cover it anyway
	say("HSET person:5 first_name Marek last_name Michalski age 27")
	say("HSET car:1 id WX1234 color red")
	if err := rdb.HSet(ctx, "person:5", "first_name", "Marek", "last_name", "Michalski", "age", "27").Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	written := time.Now()
	if err := rdb.HSet(ctx, "car:1", "id", "WX1234", "color", "red").Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}

	deadline := time.Now().Add(o.Timeout)
	var shown string
	for {
		rows, err := snapshot(ctx, db)
		var done bool
		if err == nil {
			done, err = landed(ctx, db)
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
		if rows != shown && err == nil {
			shown = rows
			say("rows in MariaDB (database %s, the first 20 of each table) after %s:\n%s", env("JETSYNC_MYSQL_DATABASE", "test"), time.Since(written).Round(time.Millisecond), rows)
		}
		if o.Exit && done {
			say("the seed's rows landed; stopping")
			return nil
		}
		if !done && time.Now().After(deadline) {
			return fmt.Errorf("the seed's rows did not land in %s; see the processes' logs above", o.Timeout)
		}
		for _, p := range procs {
			if !p.Running() && ctx.Err() == nil {
				return fmt.Errorf("%s exited; see its log above", p.Name)
			}
		}
		select {
		case <-ctx.Done():
			say("stopping")
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// lock takes the demo's store for this process: two demos sharing one
// NATS store would corrupt it.
func lock(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another demo is running on %s (stop it first): %w", state, err)
	}
	return func() { f.Close() }, nil
}

func openMySQL() (*sql.DB, error) {
	cfg := driver.NewConfig()
	cfg.Net, cfg.Addr = "tcp", env("JETSYNC_MYSQL_ADDR", "127.0.0.1:3306")
	cfg.User, cfg.Passwd, cfg.DBName = env("JETSYNC_MYSQL_USER", "root"), os.Getenv("JETSYNC_MYSQL_PASSWORD"), env("JETSYNC_MYSQL_DATABASE", "test")
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		return nil, fmt.Errorf("MariaDB at %s (start it with infra/local/up.sh): %w", cfg.Addr, err)
	}
	return db, nil
}

// landed reports whether the seed's two rows are in the tables with the
// seed's values (whatever else the tables hold).
func landed(ctx context.Context, db *sql.DB) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM persons WHERE person_id = '5' AND first = 'Marek') + (SELECT COUNT(*) FROM cars WHERE car_id = '1' AND id = 'WX1234')").Scan(&n)
	return n == 2, err
}

// snapshot renders the first rows of both tables.
func snapshot(ctx context.Context, db *sql.DB) (string, error) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	for _, q := range []string{
		"SELECT 'persons', person_id, first, last, age FROM persons ORDER BY person_id LIMIT 20",
		"SELECT 'cars', car_id, id, color, '' FROM cars ORDER BY car_id LIMIT 20",
	} {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return "", err
		}
		for rows.Next() {
			var v [5]sql.NullString
			if err := rows.Scan(&v[0], &v[1], &v[2], &v[3], &v[4]); err != nil {
				rows.Close()
				return "", err
			}
			fields := make([]string, len(v))
			for i, s := range v {
				fields[i] = s.String
				if !s.Valid {
					fields[i] = "NULL"
				}
			}
			fmt.Fprintf(tw, "  %s\n", strings.Join(fields, "\t"))
		}
		rows.Close()
	}
	tw.Flush()
	return b.String(), nil
}

// readEnvFile reads KEY=VALUE lines, skipping blanks and # comments.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var vars []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "=") {
			return nil, fmt.Errorf("%s: %q is not KEY=VALUE", path, line)
		}
		vars = append(vars, line)
	}
	return vars, sc.Err()
}

// lines writes whole lines, each with the name of who wrote it, from the
// demo and its processes at once.
type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) say(name, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(l.w, "%-8s| %s\n", name, line)
	}
}

// prefixed is a writer for one process's output.
func (l *lines) prefixed(name string) io.Writer { return &prefixWriter{l: l, name: name} }

type prefixWriter struct {
	l    *lines
	name string
	buf  []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.l.say(p.name, string(p.buf[:i]))
		p.buf = p.buf[i+1:]
	}
}
