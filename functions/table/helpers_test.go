package table

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/testenv"
	"github.com/jetsync/jetsync/infra/testenv/e2e"
)

// world adds the table function's helpers to e2e.World.
type world struct {
	*e2e.World
	t testing.TB
}

func newWorld(t testing.TB) *world { return &world{World: e2e.New(t), t: t} }

func (w *world) tableConfig(name, prefix, table, key, mappings, mysqlAddr string) Config {
	return Config{
		Config: w.FunctionConfig(name, prefix),
		Table:  table, KeyColumn: key, Mappings: mappings, Mode: "upsert", Connector: "mysql",
		MySQL: w.MySQLConfig(mysqlAddr),
	}
}

// startFunction runs the table function in-process until stop is called.
func (w *world) startFunction(cfg Config) (stop func()) {
	return w.Start(cfg.Name, func(ctx context.Context) error {
		return Run(ctx, cfg, w.Logger().With("component", cfg.Name))
	})
}

// personsTable creates a persons-like table with an extra unmapped column.
func (w *world) personsTable() string {
	return w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT, note VARCHAR(255) DEFAULT 'untouched'")
}

type person struct {
	first, last, note sql.NullString
	age               sql.NullInt64
}

// person reads one row; ok is false when there is none.
func (w *world) person(table, id string) (p person, ok bool, err error) {
	err = w.DB.QueryRow(fmt.Sprintf("SELECT first, last, age, note FROM %s WHERE person_id = ?", table), id).Scan(&p.first, &p.last, &p.age, &p.note)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

// waitRows waits until the table holds exactly the ages in want (id -> age).
func (w *world) waitRows(table string, want map[string]int, timeout time.Duration) {
	w.t.Helper()
	testenv.Eventually(w.t, timeout, func() error {
		rows, err := w.DB.Query(fmt.Sprintf("SELECT person_id, age FROM %s", table))
		if err != nil {
			return err
		}
		defer rows.Close()
		got := map[string]int{}
		for rows.Next() {
			var id string
			var age sql.NullInt64
			if err := rows.Scan(&id, &age); err != nil {
				return err
			}
			got[id] = int(age.Int64)
		}
		if len(got) != len(want) {
			return fmt.Errorf("table %s has %d rows, want %d", table, len(got), len(want))
		}
		for id, age := range want {
			if g, ok := got[id]; !ok || g != age {
				return fmt.Errorf("row %s: age %d (present %v), want %d", id, g, ok, age)
			}
		}
		return nil
	})
}
