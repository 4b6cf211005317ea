package mongodb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestRead reads a collection back as verify does, on FerretDB (and on a
// real MongoDB with JETSYNC_TEST_MONGODB_URI): pages of 3 in _id order walk
// every row once, and no tombstone, nor a document whose _id is a number
// (which sorts before every string); Rows finds the keys asked that are
// rows; Count counts the rows; a stored number is named as such, and Probe
// gives what a write would store, writing nothing.
func TestRead(t *testing.T) {
	uris := map[string]string{"ferretdb": testenv.FerretDB(t), "mongodb": mongoURI()}
	for _, name := range []string{"ferretdb", "mongodb"} {
		t.Run(name, func(t *testing.T) {
			if uris[name] == "" {
				t.Skip("set JETSYNC_TEST_MONGODB_URI (mongodb://host:port/) to read a real MongoDB")
			}
			testRead(t, uris[name])
		})
	}
}

func testRead(t *testing.T, uri string) {
	ctx := context.Background()
	s, db := open(t, config(uri)), client(t, uri)
	table := testenv.Name("people")
	t.Cleanup(func() { db.Collection(table).Drop(context.Background()) })
	op := func(id string, age any) handlers.Op {
		return handlers.Op{Table: table, Key: []handlers.Column{{Name: "id", Value: id}}, Values: []handlers.Column{{Name: "name", Value: "n" + id}, {Name: "age", Value: age}}}
	}
	w := handlers.Write{Function: "fn"}
	var want []string
	for i, id := range []string{"1", "10", "2", "3", "4", "5", "6", "7", "8", "9"} {
		w.Changes = append(w.Changes, handlers.KeySeq{Key: "p:" + id, Seq: uint64(i + 1)})
		w.Ops = append(w.Ops, op(id, id))
		if id != "4" {
			want = append(want, fmt.Sprintf("%s=n%s,%s", id, id, id))
		}
	}
	if err := s.Write(ctx, w); err != nil {
		t.Fatal(err)
	}
	del := handlers.Write{Function: "fn", Changes: []handlers.KeySeq{{Key: "p:4", Seq: 20}},
		Ops: []handlers.Op{{Delete: true, Table: table, Key: []handlers.Column{{Name: "id", Value: "4"}}}}}
	if err := s.Write(ctx, del); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(table).InsertOne(ctx, bson.D{{Key: "_id", Value: 3}, {Key: "name", Value: "a number"}}); err != nil {
		t.Fatal(err)
	}
	shape := connectors.Shape{Table: table, Key: []string{"id"}, Columns: []string{"name", "age"}}

	var got []string
	var after []string
	for pages := 0; ; pages++ {
		page, err := s.Page(ctx, shape, after, 3)
		if err != nil || pages > 10 {
			t.Fatalf("page: %v after %d pages", err, pages)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, text(page)...)
		after = page[len(page)-1].Key
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages:\n got %q\nwant %q (in _id order)", got, want)
	}
	if n, err := s.Count(ctx, table); err != nil || n != 9 {
		t.Fatalf("count: %d, %v; want 9", n, err)
	}
	if _, err := db.Collection(table).UpdateOne(ctx, bson.D{{Key: "_id", Value: "2"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "age", Value: int32(2)}}}}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Rows(ctx, shape, [][]string{{"2"}, {"4"}, {"nope"}})
	if got := strings.Join(text(rows), " "); err != nil || got != "2=n2,32-bit integer 2" {
		t.Fatalf("rows: %q, %v", got, err)
	}
	probed, err := s.Probe(ctx, shape, []handlers.Op{op("2", "042"), op("11", 42), op("12", nil)})
	if got := strings.Join(text(probed), " "); err != nil || got != "2=n2,042 11=n11,64-bit integer 42 12=n12,NULL" {
		t.Fatalf("probe: %q, %v", got, err)
	}
	if n, _ := s.Count(ctx, table); n != 9 {
		t.Fatalf("a probe wrote: %d rows", n)
	}
}

// text is rows as "key=value,value" lines, NULL for a missing field.
func text(rows []connectors.Row) []string {
	var out []string
	for _, r := range rows {
		vals := make([]string, len(r.Values))
		for i, v := range r.Values {
			vals[i] = map[bool]string{true: v.String, false: "NULL"}[v.Valid]
		}
		out = append(out, strings.Join(r.Key, ",")+"="+strings.Join(vals, ","))
	}
	return out
}
