package table

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestRGSyncProtocol: an rgsync application's writes, pointed at jetsync
// with its prefix in JETSYNC_RGSYNC, behave as under rgsync: the '#' field
// names the operation, is removed from the hash, and its id is acknowledged
// on {<key>}<id> (read with XREAD as rgsync applications do), after the
// commit for '=' and '~', at once for '+' and '-'; a refused write is
// acknowledged failed with the database's reason. On a prefix not in
// JETSYNC_RGSYNC '#' is an ordinary field.
func TestRGSyncProtocol(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	prefix, plain := w.Prefix("person"), w.Prefix("plain")
	table := w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(8), last VARCHAR(255), age INT")
	plainTable := w.Table("plain", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(8), hash_op VARCHAR(8)")
	cfg := w.BridgeConfig(prefix, plain)
	cfg.Rgsync = []string{prefix}
	w.StartBridgeWith(cfg)
	w.startFunction(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr()))
	w.startFunction(w.tableConfig(testenv.Name("plain"), plain, plainTable, "person_id", "first_name:first,#:hash_op", testenv.MySQLAddr()))
	ctx := context.Background()
	ack := func(t *testing.T, key, id string) map[string]any { return rgsyncAck(t, w, key, id) }
	row := func(t *testing.T, id string) []string { return personRow(t, w, table, id) }
	// settled waits until a later ordinary write of key id "sync" landed, so
	// that what the writes before it did is in the table.
	n := 0
	settled := func(t *testing.T) {
		t.Helper()
		n++
		w.Redis.HSet(ctx, prefix+":sync", "first_name", "s", "age", fmt.Sprint(n))
		w.WaitRows(20*time.Second, []string{fmt.Sprintf("s|%d", n)}, "SELECT first, age FROM "+table+" WHERE person_id = 'sync'")
	}

	t.Run("= replicates, removes # and acknowledges after the commit", func(t *testing.T) {
		key := prefix + ":1"
		w.Redis.HSet(ctx, key, "first_name", "foo", "last_name", "bar", "age", "22", "#", "=1")
		if v := ack(t, key, "1"); v["status"] != "done" {
			t.Fatalf("ack %v", v)
		}
		if got := row(t, "1"); len(got) != 1 || got[0] != "foo|bar|22" {
			t.Fatalf("row when acknowledged: %q", got)
		}
		if w.Redis.HExists(ctx, key, "#").Val() {
			t.Fatal("# is still in the hash")
		}
	})
	t.Run("~ deletes the key and the row", func(t *testing.T) {
		key := prefix + ":1"
		w.Redis.HSet(ctx, key, "#", "~2")
		if v := ack(t, key, "2"); v["status"] != "done" {
			t.Fatalf("ack %v", v)
		}
		if got := row(t, "1"); len(got) != 0 {
			t.Fatalf("row after ~: %q", got)
		}
		if w.Redis.Exists(ctx, key).Val() != 0 {
			t.Fatal("key still there after ~")
		}
	})
	t.Run("+ stores in Redis only, - deletes in Redis only", func(t *testing.T) {
		key := prefix + ":7"
		w.Redis.HSet(ctx, key, "first_name", "James", "last_name", "Bond", "age", "42", "#", "+3")
		if v := ack(t, key, "3"); v["status"] != "done" {
			t.Fatalf("ack of + %v", v)
		}
		settled(t)
		if got := row(t, "7"); len(got) != 0 {
			t.Fatalf("row after +: %q", got)
		}
		if got := w.Redis.HGetAll(ctx, key).Val(); len(got) != 3 || got["last_name"] != "Bond" {
			t.Fatalf("hash after +: %v", got)
		}
		w.Redis.HSet(ctx, key, "#", "=4") // replicate it now
		if v := ack(t, key, "4"); v["status"] != "done" {
			t.Fatalf("ack of = %v", v)
		}
		if got := row(t, "7"); len(got) != 1 || got[0] != "James|Bond|42" {
			t.Fatalf("row after =: %q", got)
		}
		w.Redis.HSet(ctx, key, "#", "-5")
		if v := ack(t, key, "5"); v["status"] != "done" {
			t.Fatalf("ack of - %v", v)
		}
		settled(t)
		if w.Redis.Exists(ctx, key).Val() != 0 {
			t.Fatal("key still there after -")
		}
		if got := row(t, "7"); len(got) != 1 || got[0] != "James|Bond|42" {
			t.Fatalf("row after -: %q, want it kept", got)
		}
	})
	t.Run("a refused write is acknowledged failed", func(t *testing.T) {
		key := prefix + ":9"
		w.Redis.HSet(ctx, key, "first_name", "far too long for eight", "#", "=6")
		v := ack(t, key, "6")
		if v["status"] != "failed" || v["error"] == "" {
			t.Fatalf("ack %v, want failed with the reason", v)
		}
	})
	t.Run("an unknown operation is a dead letter, the rest flows", func(t *testing.T) {
		w.Redis.HSet(ctx, prefix+":10", "first_name", "x", "#", "?7")
		settled(t)
		if got := row(t, "10"); len(got) != 0 {
			t.Fatalf("row of a bad operation: %q", got)
		}
		nc, err := nats.Connect(w.NATSURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		dl := w.deadLetter(js, streams.DeadLetterRoot+"."+change.BridgeFunction+"."+prefix+".10", 10*time.Second)
		if reason := dl.Header.Get(change.HeaderError); !strings.Contains(reason, `field # = "?7" is not an rgsync operation`) {
			t.Fatalf("dead letter reason %q", reason)
		}
	})
	t.Run("# is an ordinary field elsewhere", func(t *testing.T) {
		w.Redis.HSet(ctx, plain+":1", "first_name", "p", "#", "=1")
		w.WaitRows(20*time.Second, []string{"p|=1"}, "SELECT first, hash_op FROM "+plainTable+" WHERE person_id = '1'")
		if v := w.Redis.HGet(ctx, plain+":1", "#").Val(); v != "=1" {
			t.Fatalf("# = %q on an ordinary prefix, want it kept", v)
		}
	})
}

// TestRGSyncWriteThroughForm: rgsync's write-through form, HSET
// __{<key>} ... [# =<id>], on a prefix in both JETSYNC_RGSYNC and
// JETSYNC_WRITE_THROUGH: the database is written first, then the key, then
// {<key>}<id> is acknowledged (done; failed with the reason and the key
// unchanged when the database refuses it); '~' deletes both.
func TestRGSyncWriteThroughForm(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	prefix := w.Prefix("person")
	table := w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(8), last VARCHAR(255), age INT")
	cfg := w.BridgeConfig(prefix)
	cfg.Rgsync, cfg.WriteThrough = []string{prefix}, []string{prefix}
	w.StartBridgeWith(cfg)
	w.startFunction(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr()))
	ctx := context.Background()
	ack := func(t *testing.T, key, id string) map[string]any { return rgsyncAck(t, w, key, id) }
	row := func(t *testing.T, id string) []string { return personRow(t, w, table, id) }
	key := prefix + ":1"
	t.Run("database, then key, then ack", func(t *testing.T) {
		w.Redis.HSet(ctx, "__{"+key+"}", "first_name", "foo", "last_name", "bar", "age", "22", "#", "=11")
		if v := ack(t, key, "11"); v["status"] != "done" {
			t.Fatalf("ack %v", v)
		}
		if got := row(t, "1"); len(got) != 1 || got[0] != "foo|bar|22" {
			t.Fatalf("row when acknowledged: %q", got)
		}
		if got := w.Redis.HGetAll(ctx, key).Val(); len(got) != 3 || got["age"] != "22" {
			t.Fatalf("key when acknowledged: %v", got)
		}
		if w.Redis.Exists(ctx, "__{"+key+"}").Val() != 0 {
			t.Fatal("the staging hash is still there")
		}
	})
	t.Run("a partial write merges", func(t *testing.T) {
		w.Redis.HSet(ctx, "__{"+key+"}", "age", "23", "#", "=12")
		if v := ack(t, key, "12"); v["status"] != "done" {
			t.Fatalf("ack %v", v)
		}
		if got := row(t, "1"); len(got) != 1 || got[0] != "foo|bar|23" {
			t.Fatalf("row: %q", got)
		}
	})
	t.Run("refused: failed, key unchanged", func(t *testing.T) {
		w.Redis.HSet(ctx, "__{"+key+"}", "first_name", "far too long for eight", "#", "=13")
		v := ack(t, key, "13")
		if v["status"] != "failed" || v["error"] == "" {
			t.Fatalf("ack %v, want failed with the reason", v)
		}
		if got := w.Redis.HGet(ctx, key, "first_name").Val(); got != "foo" {
			t.Fatalf("first_name %q after a refused write, want foo", got)
		}
	})
	t.Run("~ deletes the row and the key", func(t *testing.T) {
		w.Redis.HSet(ctx, "__{"+key+"}", "#", "~14")
		if v := ack(t, key, "14"); v["status"] != "done" {
			t.Fatalf("ack %v", v)
		}
		if got := row(t, "1"); len(got) != 0 {
			t.Fatalf("row after ~: %q", got)
		}
		if w.Redis.Exists(ctx, key).Val() != 0 {
			t.Fatal("key after ~")
		}
	})
}

// rgsyncAck reads the first acknowledgement on {<key>}<id> as an rgsync
// application does (XREAD BLOCK), and checks rgsync's expiry.
func rgsyncAck(t *testing.T, w *world, key, id string) map[string]any {
	t.Helper()
	ctx := context.Background()
	res, err := w.Redis.XRead(ctx, &redis.XReadArgs{Streams: []string{"{" + key + "}" + id, "0-0"}, Count: 1, Block: 20 * time.Second}).Result()
	if err != nil {
		t.Fatalf("no acknowledgement on {%s}%s: %v", key, id, err)
	}
	if ttl := w.Redis.TTL(ctx, "{"+key+"}"+id).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("{%s}%s expires in %s, want rgsync's 3600 s", key, id, ttl)
	}
	return res[0].Messages[0].Values
}

// personRow reads first|last|age of the row id of a persons-like table.
func personRow(t *testing.T, w *world, table, id string) []string {
	t.Helper()
	rows, err := w.Rows("SELECT first, last, COALESCE(age, 'NULL') FROM "+table+" WHERE person_id = ?", id)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
