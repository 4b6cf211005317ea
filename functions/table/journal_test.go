package table

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/infra/testenv"
)

// redisState renders every key of prefix as "id|age" (age NULL when the
// field is missing), sorted: what the table must hold.
func redisState(t *testing.T, rdb *redis.Client, prefix string, ids int) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for i := range ids {
		vals, err := rdb.HGetAll(ctx, fmt.Sprintf("%s:%d", prefix, i)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) == 0 {
			continue
		}
		age, ok := vals["age"]
		if !ok {
			age = "NULL"
		}
		out = append(out, fmt.Sprintf("%d|%s", i, age))
	}
	sort.Slice(out, func(i, j int) bool { // by id, as ORDER BY person_id sorts
		a, _, _ := strings.Cut(out[i], "|")
		b, _, _ := strings.Cut(out[j], "|")
		return a < b
	})
	return out
}

// TestJournalLosesNothing: with the bridge down, 1,000 mixed writes, field
// removals and deletes go through the jetsync Redis functions; once a bridge
// starts, the table equals Redis exactly. The control runs the same writes
// as plain commands in notification mode, where the deletes made while no
// bridge was subscribed are lost, and must end with a table that differs.
func TestJournalLosesNothing(t *testing.T) {
	t.Parallel()
	for _, journal := range []bool{true, false} {
		t.Run(map[bool]string{true: "journal", false: "control: notification mode"}[journal], func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			prefix, table := w.Prefix("person"), w.personsTable()
			cfg := w.BridgeConfig(prefix)
			if journal {
				cfg.Journal = []string{prefix}
			}
			stop := w.StartBridgeWith(cfg)
			w.startFunction(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "age:age", testenv.MySQLAddr()))

			const ids = 100
			hset := func(key string, args ...any) {
				if journal {
					w.Redis.FCall(ctx, "jetsync_hset", []string{key}, args...)
				} else {
					w.Redis.HSet(ctx, key, args...)
				}
			}
			hdel := func(key, field string) {
				if journal {
					w.Redis.FCall(ctx, "jetsync_hdel", []string{key}, field)
				} else {
					w.Redis.HDel(ctx, key, field)
				}
			}
			del := func(key string) {
				if journal {
					w.Redis.FCall(ctx, "jetsync_del", []string{key})
				} else {
					w.Redis.Del(ctx, key)
				}
			}
			for i := range ids {
				hset(fmt.Sprintf("%s:%d", prefix, i), "age", strconv.Itoa(i), "first_name", "x")
			}
			w.WaitRows(15*time.Second, redisState(t, w.Redis, prefix, ids), "SELECT person_id, COALESCE(age, 'NULL') FROM "+table+" ORDER BY person_id")

			stop()
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range 1000 {
				key := fmt.Sprintf("%s:%d", prefix, rng.IntN(ids))
				switch rng.IntN(4) {
				case 0, 1:
					hset(key, "age", strconv.Itoa(1000+i))
				case 2:
					hdel(key, "age")
				case 3:
					del(key)
				}
			}
			want := redisState(t, w.Redis, prefix, ids)
			if journal {
				if n := w.Redis.XLen(ctx, bridge.JournalStream(prefix)).Val(); n < 1000 {
					t.Fatalf("journal holds %d entries, want the 1,000 writes", n)
				}
			}
			w.StartBridgeWith(cfg)
			query := "SELECT person_id, COALESCE(age, 'NULL') FROM " + table + " ORDER BY person_id"
			if !journal {
				// Without the journal the resync brings every key that is in
				// Redis (each such row equals Redis), but the deletes made
				// while no bridge ran are gone for good: their rows stay.
				testenv.Eventually(t, 30*time.Second, func() error {
					got, err := w.Rows(query)
					if err != nil {
						return err
					}
					have := map[string]bool{}
					for _, r := range got {
						have[r] = true
					}
					for _, r := range want {
						if !have[r] {
							return fmt.Errorf("control: row %s not resynced yet", r)
						}
					}
					if len(got) <= len(want) {
						return fmt.Errorf("control: %d rows for %d keys: no delete made while no bridge ran was lost; the test cannot see what the journal keeps", len(got), len(want))
					}
					return nil
				})
				return
			}
			w.WaitRows(30*time.Second, want, query)
			testenv.Eventually(t, 10*time.Second, func() error {
				if n := w.Redis.XLen(ctx, bridge.JournalStream(prefix)).Val(); n != 0 {
					return fmt.Errorf("journal still holds %d entries after they were published", n)
				}
				return nil
			})
		})
	}
}
