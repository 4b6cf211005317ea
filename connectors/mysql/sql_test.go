package mysql

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jetsync/jetsync/handlers"
)

func up(table, id string, values ...handlers.Column) handlers.Op {
	return handlers.Op{Table: table, Key: []handlers.Column{{Name: "id", Value: id}}, Values: values}
}

func TestStatements(t *testing.T) {
	v := func(name string, val any) handlers.Column { return handlers.Column{Name: name, Value: val} }
	tests := []struct {
		name string
		ops  []handlers.Op
		want []string
		args string
	}{
		{
			"multi-row upsert",
			[]handlers.Op{up("persons", "1", v("first", "a"), v("age", "3")), up("persons", "2", v("first", nil), v("age", "4"))},
			[]string{"INSERT INTO `persons` (`id`, `first`, `age`) VALUES (?, ?, ?), (?, ?, ?) ON DUPLICATE KEY UPDATE `first` = VALUES(`first`), `age` = VALUES(`age`)"},
			"[1 a 3 2 <nil> 4]",
		},
		{
			"quoted identifiers",
			[]handlers.Op{up("we`ird table", "1", v("col`x", "v"))},
			[]string{"INSERT INTO `we``ird table` (`id`, `col``x`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `col``x` = VALUES(`col``x`)"},
			"[1 v]",
		},
		{
			"key only",
			[]handlers.Op{up("t", "1")},
			[]string{"INSERT INTO `t` (`id`) VALUES (?) ON DUPLICATE KEY UPDATE `id` = VALUES(`id`)"},
			"[1]",
		},
		{
			"delete",
			[]handlers.Op{{Delete: true, Table: "t", Key: []handlers.Column{v("id", "1")}}, {Delete: true, Table: "t", Key: []handlers.Column{v("id", "2")}}},
			[]string{"DELETE FROM `t` WHERE `id` IN (?, ?)"},
			"[1 2]",
		},
		{
			"composite key delete",
			[]handlers.Op{{Delete: true, Table: "t", Key: []handlers.Column{v("a", "1"), v("b", "2")}}},
			[]string{"DELETE FROM `t` WHERE (`a`, `b`) IN ((?, ?))"},
			"[1 2]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := statements(tt.ops)
			if len(sts) != len(tt.want) {
				t.Fatalf("%d statements, want %d", len(sts), len(tt.want))
			}
			var args []any
			for i, st := range sts {
				if st.SQL != tt.want[i] {
					t.Errorf("statement %d:\n got %s\nwant %s", i, st.SQL, tt.want[i])
				}
				args = append(args, st.Args...)
			}
			if fmt.Sprint(args) != tt.args {
				t.Errorf("args %v, want %s", args, tt.args)
			}
		})
	}
}

func TestStatementsStayUnderLimits(t *testing.T) {
	// 30,000 rows of 3 columns need 90,000 placeholders: more than one statement.
	var ops []handlers.Op
	for i := range 30000 {
		ops = append(ops, up("t", fmt.Sprint(i), handlers.Column{Name: "a", Value: "x"}, handlers.Column{Name: "b", Value: "y"}))
	}
	sts := statements(ops)
	rows := 0
	for _, st := range sts {
		if len(st.Args) > maxParams {
			t.Fatalf("statement with %d parameters", len(st.Args))
		}
		rows += len(st.Args) / 3
	}
	if len(sts) < 2 || rows != 30000 {
		t.Fatalf("%d statements holding %d rows", len(sts), rows)
	}

	// Ten 1 MiB values: split by size.
	big := strings.Repeat("x", 1<<20)
	ops = ops[:0]
	for i := range 10 {
		ops = append(ops, up("t", fmt.Sprint(i), handlers.Column{Name: "a", Value: big}))
	}
	sts = statements(ops)
	if len(sts) < 3 {
		t.Fatalf("ten 1 MiB rows in %d statements; want them split under %d bytes", len(sts), maxBytes)
	}
}
