package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"
)

// state is where the demo keeps its NATS store and binaries, under the
// repository root; it is in .gitignore.
const state = ".demo"

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, exitAfter bool, wait time.Duration) error {
	if _, err := os.Stat("infra/sql/mysql/seed.sql"); err != nil {
		return fmt.Errorf("run the demo from the repository root (go tool task demo): %w", err)
	}
	natsURL := os.Getenv("JETSYNC_NATS_URL")
	if natsURL == "" {
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(state, "nats"), NoSigs: true, NoLog: true})
		if err != nil {
			return fmt.Errorf("embedded nats-server: %w", err)
		}
		ns.Start()
		defer ns.Shutdown()
		if !ns.ReadyForConnections(10 * time.Second) {
			return errors.New("embedded nats-server did not start in 10s")
		}
		natsURL = ns.ClientURL()
		say("embedded nats-server %s with JetStream, store in %s/nats", natsURL, state)
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

	say("building the bridge and the table function")
	bin := filepath.Join(state, "bin")
	for name, pkg := range map[string]string{"jetsync-bridge": "./bridge/cmd/jetsync-bridge", "jetsync-table": "./functions/table"} {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}

	procs := &group{}
	defer procs.stop()
	common := []string{"JETSYNC_NATS_URL=" + natsURL, "JETSYNC_LOG_FORMAT=text"}
	if err := procs.start(ctx, "bridge", filepath.Join(bin, "jetsync-bridge"), append(common, "JETSYNC_PREFIXES=person,car")); err != nil {
		return err
	}
	for _, fn := range []string{"persons", "cars"} {
		vars, err := readEnvFile(filepath.Join("functions", "table", fn+".env"))
		if err != nil {
			return err
		}
		if err := procs.start(ctx, fn, filepath.Join(bin, "jetsync-table"), append(vars, common...)); err != nil {
			return err
		}
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

	deadline := time.Now().Add(wait)
	var shown string
	for {
		rows, err := snapshot(ctx, db)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if rows != shown && err == nil {
			shown = rows
			say("rows in MariaDB (database %s) after %s:\n%s", env("JETSYNC_MYSQL_DATABASE", "test"), time.Since(written).Round(time.Millisecond), rows)
		}
		landed := strings.Contains(rows, "Marek") && strings.Contains(rows, "WX1234")
		if exitAfter && landed {
			say("the seed's rows landed; stopping")
			return nil
		}
		if !landed && time.Now().After(deadline) {
			return fmt.Errorf("the seed's rows did not land in %s; see the processes' logs above", wait)
		}
		if ctx.Err() != nil {
			say("stopping")
			return nil
		}
		if err := procs.failed(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func say(format string, args ...any) {
	fmt.Printf("demo: "+format+"\n", args...)
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

// snapshot renders both tables.
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

// group runs child processes with prefixed output.
type group struct {
	mu    sync.Mutex
	cmds  []*exec.Cmd
	exits []error
}

func (g *group) start(ctx context.Context, name, path string, vars []string) error {
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), vars...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Printf("%-8s| %s\n", name, sc.Text())
		}
	}()
	g.mu.Lock()
	g.cmds = append(g.cmds, cmd)
	g.mu.Unlock()
	go func() {
		err := cmd.Wait()
		pw.Close()
		if ctx.Err() == nil {
			g.mu.Lock()
			g.exits = append(g.exits, fmt.Errorf("%s exited: %v", name, err))
			g.mu.Unlock()
		}
	}()
	return nil
}

func (g *group) failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.exits...)
}

// stop sends SIGTERM to every child and waits up to 15 s for them.
func (g *group) stop() {
	g.mu.Lock()
	cmds := g.cmds
	g.mu.Unlock()
	for _, c := range cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range cmds {
		for c.ProcessState == nil && time.Now().Before(deadline) {
			if err := c.Process.Signal(syscall.Signal(0)); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
