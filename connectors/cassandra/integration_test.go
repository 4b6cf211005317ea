package cassandra_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/jetsync/jetsync/connectors/cassandra"
	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

const keyspace = "jetsync_test"

// cluster returns the hosts of a test cluster, or skips: no Cassandra can
// run on the project's machines.
func cluster(t testing.TB) string {
	hosts := os.Getenv("JETSYNC_TEST_CASSANDRA_HOSTS")
	if hosts == "" {
		t.Skip("set JETSYNC_TEST_CASSANDRA_HOSTS=host:port to run the Cassandra conformance suite against a real cluster")
	}
	return hosts
}

func config(hosts string) cassandra.Config {
	return cassandra.Config{Hosts: hosts, Keyspace: keyspace, Consistency: "ONE", Timeout: 10 * time.Second, MaxBatch: 100, Concurrency: 8}
}

// admin opens a session without a keyspace and creates the test keyspace.
func admin(t testing.TB, hosts string) *gocql.Session {
	t.Helper()
	c := gocql.NewCluster(strings.Split(hosts, ",")...)
	c.Timeout = 30 * time.Second
	s, err := c.CreateSession()
	if err != nil {
		t.Fatalf("cassandra at %s: %v", hosts, err)
	}
	t.Cleanup(s.Close)
	if err := s.Query("CREATE KEYSPACE IF NOT EXISTS " + keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec(); err != nil {
		t.Fatal(err)
	}
	return s
}

func open(t testing.TB, cfg cassandra.Config) *cassandra.Sink {
	t.Helper()
	s, err := cassandra.Open(context.Background(), cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func cqlType(c conformance.Column) string {
	switch c.Type {
	case conformance.Int:
		return "int"
	case conformance.BigInt:
		return "bigint"
	default:
		return "text"
	}
}

var unsafe = regexp.MustCompile(`[^a-z0-9_]`)

// TestConformance runs the connector suite against a real cluster.
func TestConformance(t *testing.T) {
	hosts := cluster(t)
	adm := admin(t, hosts)
	conformance.Run(t, conformance.Harness{
		Open: func(t *testing.T, addr string) handlers.Sink {
			cfg := config(hosts)
			if addr != "" {
				// Through the proxy: every node address maps to it.
				cfg.Hosts = addr
				host, port, _ := net.SplitHostPort(addr)
				p, _ := strconv.Atoi(port)
				cfg.AddressTranslator = gocql.AddressTranslatorFunc(func(net.IP, int) (net.IP, int) { return net.ParseIP(host), p })
				cfg.Timeout = 2 * time.Second
			}
			return open(t, cfg)
		},
		CreateTable: func(t *testing.T, spec conformance.Table) string {
			// Table names are [a-z0-9_] only, even quoted.
			name := testenv.Name(unsafe.ReplaceAllString(strings.ToLower(spec.Base), "_"))
			ddl := conformance.CreateSQL(spec, name, quoteIdent, cqlType, "")
			if err := adm.Query(strings.Replace(ddl, "CREATE TABLE ", "CREATE TABLE "+keyspace+".", 1)).Exec(); err != nil {
				t.Fatalf("%s: %v", ddl, err)
			}
			t.Cleanup(func() { adm.Query("DROP TABLE " + keyspace + "." + quoteIdent(name)).Exec() })
			return name
		},
		Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
			cols := spec.All()
			var names []string
			for _, c := range cols {
				names = append(names, quoteIdent(c.Name))
			}
			iter := adm.Query("SELECT " + strings.Join(names, ", ") + " FROM " + keyspace + "." + quoteIdent(table)).Iter()
			var out [][]string
			for {
				dest := make([]any, len(cols))
				for i, c := range cols {
					switch c.Type {
					case conformance.Int:
						dest[i] = new(*int)
					case conformance.BigInt:
						dest[i] = new(*int64)
					default:
						dest[i] = new(*string)
					}
				}
				if !iter.Scan(dest...) {
					break
				}
				row := make([]string, len(cols))
				for i, d := range dest {
					row[i] = conformance.Null
					switch p := d.(type) {
					case **int:
						if *p != nil {
							row[i] = strconv.Itoa(**p)
						}
					case **int64:
						if *p != nil {
							row[i] = strconv.FormatInt(**p, 10)
						}
					case **string:
						if *p != nil {
							row[i] = **p
						}
					}
				}
				out = append(out, row)
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
			sort.Slice(out, func(i, j int) bool { return keyLess(out[i], out[j], spec) })
			return out
		},
		Addr: strings.Split(hosts, ",")[0],
		Caps: conformance.Capabilities{Timestamps: true},
	})
}

func keyLess(a, b []string, spec conformance.Table) bool {
	for i, c := range spec.Key {
		if a[i] == b[i] {
			continue
		}
		if c.Type == conformance.Int || c.Type == conformance.BigInt {
			x, _ := strconv.ParseInt(a[i], 10, 64)
			y, _ := strconv.ParseInt(b[i], 10, 64)
			return x < y
		}
		return a[i] < b[i]
	}
	return false
}

// BenchmarkWrite is the connector's write throughput in batches of 500
// (persons-like rows, one partition each):
//
//	JETSYNC_TEST_CASSANDRA_HOSTS=127.0.0.1:9042 go test -run '^$' -bench Write -benchtime 200x ./connectors/cassandra/
func BenchmarkWrite(b *testing.B) {
	hosts := cluster(b)
	adm := admin(b, hosts)
	table := testenv.Name("bench")
	if err := adm.Query("CREATE TABLE " + keyspace + "." + table + " (person_id text PRIMARY KEY, first text, last text, age int)").Exec(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { adm.Query("DROP TABLE " + keyspace + "." + table).Exec() })
	s := open(b, config(hosts))
	ctx := context.Background()
	const batch = 500
	var seq uint64
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		w := handlers.Write{Function: "bench", Ops: make([]handlers.Op, batch), Changes: make([]handlers.KeySeq, batch)}
		for j := range batch {
			seq++
			id := fmt.Sprint((i*batch + j) % 20000)
			w.Ops[j] = handlers.Op{Table: table, Key: []handlers.Column{{Name: "person_id", Value: id}}, Values: []handlers.Column{
				{Name: "first", Value: "Marek" + id}, {Name: "last", Value: "Michalski"}, {Name: "age", Value: strconv.Itoa(j % 100)}}}
			w.Changes[j] = handlers.KeySeq{Key: "bench:" + id, Seq: seq}
		}
		if err := s.Write(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "rows/s")
}
