package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/handlers"
)

func hc(key string, seq uint64, fields map[string]string) handlers.Change {
	c, err := change.New(key, change.Upsert, fields, time.Unix(0, 0))
	if err != nil {
		panic(err)
	}
	return handlers.Change{Change: c, Seq: seq}
}

func TestTypedFields(t *testing.T) {
	c := hc("person:5", 1, map[string]string{
		"i": " 42 ", "f": "2.5", "b": "Yes", "t": "2026-11-26T10:00:00+01:00", "d": "2026-11-26", "u": "0",
		"j": `{"a":[1,2]}`, "blank": " ", "bad": "x",
	})
	str := func(v any, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		switch p := v.(type) {
		case *int64:
			if p != nil {
				return fmt.Sprint(*p)
			}
		case *float64:
			if p != nil {
				return fmt.Sprint(*p)
			}
		case *bool:
			if p != nil {
				return fmt.Sprint(*p)
			}
		case *time.Time:
			if p != nil {
				return p.Format(time.RFC3339)
			}
		}
		return "NULL"
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"int", str(c.Int("i")), "42"},
		{"int absent", str(c.Int("nope")), "NULL"},
		{"int blank", str(c.Int("blank")), "NULL"},
		{"int bad", str(c.Int("bad")), `error: permanent: field "bad" of person:5: "x" is not an integer`},
		{"float", str(c.Float("f")), "2.5"},
		{"float bad", str(c.Float("bad")), `error: permanent: field "bad" of person:5: "x" is not a number`},
		{"bool", str(c.Bool("b")), "true"},
		{"bool zero", str(c.Bool("u")), "false"},
		{"bool bad", str(c.Bool("bad")), `error: permanent: field "bad" of person:5: "x" is not a boolean`},
		{"time rfc3339", str(c.Time("t")), "2026-11-26T09:00:00Z"},
		{"time date", str(c.Time("d")), "2026-11-26T00:00:00Z"},
		{"time unix", str(c.Time("u")), "1970-01-01T00:00:00Z"},
		{"time bad", str(c.Time("bad")), `error: permanent: field "bad" of person:5: "x" is not a time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.HasPrefix(tt.got, tt.want) {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	var j struct{ A []int }
	if ok, err := c.JSON("j", &j); !ok || err != nil || fmt.Sprint(j.A) != "[1 2]" {
		t.Fatalf("JSON = %v, %v, %v", ok, err, j)
	}
	if _, err := c.JSON("bad", &j); !errors.Is(err, handlers.ErrPermanent) || !strings.Contains(err.Error(), `field "bad"`) {
		t.Fatalf("JSON of bad = %v", err)
	}
	if c.Nullable("nope") != nil || c.Nullable("i") != " 42 " || !c.Has("blank") || c.Has("nope") {
		t.Fatal("Nullable/Has")
	}
}

func TestCoalesce(t *testing.T) {
	in := []handlers.Change{hc("p:a", 1, nil), hc("p:b", 2, nil), hc("p:a", 3, nil), hc("p:c", 4, nil), hc("p:b", 5, nil)}
	var got []string
	for _, c := range handlers.Coalesce(in) {
		got = append(got, fmt.Sprintf("%s@%d", c.Key, c.Seq))
	}
	if strings.Join(got, " ") != "p:a@3 p:c@4 p:b@5" {
		t.Fatalf("Coalesce = %v", got)
	}
	// A requeued dead letter (original sequence 2) arrives after a newer
	// change of its key (sequence 6): the newer one is kept.
	in = []handlers.Change{hc("p:a", 6, nil), hc("p:a", 2, nil), hc("p:b", 7, nil)}
	got = nil
	for _, c := range handlers.Coalesce(in) {
		got = append(got, fmt.Sprintf("%s@%d", c.Key, c.Seq))
	}
	if strings.Join(got, " ") != "p:a@6 p:b@7" {
		t.Fatalf("Coalesce with a requeued dead letter = %v, want the newest change of p:a kept", got)
	}
}

// ExampleFunction shows a function turning changes into ops; the runtime
// writes them in one transaction.
func ExampleFunction() {
	fn := handlers.FunctionFunc(func(_ context.Context, b *handlers.Batch) error {
		for _, c := range b.Changes {
			age, err := c.Int("age")
			if err != nil {
				b.Fail(c, err) // to the dead letters, with the reason
				continue
			}
			b.Upsert("persons", []handlers.Column{{Name: "person_id", Value: c.ID}}, []handlers.Column{{Name: "age", Value: age}})
		}
		return nil
	})
	b := &handlers.Batch{Changes: []handlers.Change{
		hc("person:5", 1, map[string]string{"age": "27"}),
		hc("person:6", 2, map[string]string{"age": "old"}),
	}}
	_ = fn.Handle(context.Background(), b)
	for _, op := range b.Ops() {
		fmt.Println(op.Table, op.Key[0].Value, *op.Values[0].Value.(*int64))
	}
	// Output:
	// persons 5 27
}
