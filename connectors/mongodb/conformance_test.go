package mongodb_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/mongodb"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

func config(uri string) mongodb.Config {
	return mongodb.Config{URI: platform.Secret(uri), Database: "jetsync_test", KeyFields: true, TombstoneTTL: time.Hour, BulkSize: 16, Timeout: 3 * time.Second}
}

func open(t testing.TB, cfg mongodb.Config) *mongodb.Sink {
	t.Helper()
	s, err := mongodb.Open(context.Background(), cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func client(t testing.TB, uri string) *mongo.Database {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c.Database("jetsync_test")
}

// readTable reads the live documents (no tombstones) of table as the suite
// wants them: the spec's columns as text, NULL for a missing field,
// ordered by the key (numerically for integer keys).
func readTable(t *testing.T, db *mongo.Database, table string, spec conformance.Table) [][]string {
	t.Helper()
	ctx := context.Background()
	cur, err := db.Collection(table).Find(ctx, bson.D{{Key: mongodb.DeletedField, Value: bson.D{{Key: "$exists", Value: false}}}})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, d := range docs {
		row := make([]string, 0, len(spec.All()))
		for _, c := range spec.All() {
			v, ok := d[c.Name]
			switch {
			case !ok || v == nil:
				row = append(row, conformance.Null)
			default:
				row = append(row, fmt.Sprint(v))
			}
		}
		rows = append(rows, row)
	}
	conformance.SortByKey(rows, spec)
	return rows
}

func harness(t *testing.T, uri string, ferret bool) conformance.Harness {
	db := client(t, uri)
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	caps := conformance.Capabilities{RowGuards: true, Untyped: true}
	if ferret {
		// FerretDB 1.x fails on a field name with a double quote, and
		// scans a collection for each update (Capabilities.Scale).
		caps.Scale = 10
		caps.Identifiers = slices.DeleteFunc(slices.Clone(conformance.DefaultIdentifiers), func(n string) bool { return strings.Contains(n, `"`) })
	}
	return conformance.Harness{
		Open: func(t *testing.T, a string) handlers.Sink {
			u := uri
			if a != "" {
				u = "mongodb://" + a + "/?directConnection=true"
			}
			return open(t, config(u))
		},
		CreateTable: func(t *testing.T, spec conformance.Table) string {
			name := testenv.Name(spec.Base)
			t.Cleanup(func() { db.Collection(name).Drop(context.Background()) })
			return name
		},
		Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
			return readTable(t, db, table, spec)
		},
		// A field name MongoDB refuses for good.
		Refused: func(t *testing.T, table string) handlers.Op {
			return handlers.Op{Table: table, Key: []handlers.Column{{Name: "id", Value: "e"}}, Values: []handlers.Column{{Name: "$age", Value: "4"}}}
		},
		Addr: addr,
		SlowGuard: func(s handlers.Sink, pause time.Duration, unguarded bool) {
			mongodb.SetSlowGuard(s.(*mongodb.Sink), pause, unguarded)
		},
		Caps: caps,
	}
}

// TestConformance runs the connector suite against a FerretDB of the
// test's own.
func TestConformance(t *testing.T) {
	uri := testenv.FerretDB(t)
	conformance.Run(t, harness(t, uri, true))
}

// TestConformanceMongoDB runs the suite against a real MongoDB.
func TestConformanceMongoDB(t *testing.T) {
	uri := mongoURI()
	if uri == "" {
		t.Skip("set JETSYNC_TEST_MONGODB_URI (mongodb://host:port/) to run the suite against a real MongoDB")
	}
	conformance.Run(t, harness(t, uri, false))
}

// mongoURI is the real MongoDB of the gated tests, if any.
func mongoURI() string { return os.Getenv("JETSYNC_TEST_MONGODB_URI") }
