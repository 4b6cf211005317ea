package table_test

import (
	"os"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/functions/table"
)

// A report as jetsync-table verify prints it: the summary line, then up to
// --examples differences of each kind.
func ExampleReport_WriteText() {
	r := table.Report{
		VerifyResult: change.VerifyResult{
			Function: "persons", Prefix: "person", Table: "persons", Keys: 1000, Rows: 1001, Seconds: 1.23,
			Differences: map[string]int64{change.Missing: 2, change.Different: 1, change.Gone: 1},
		},
		Examples: map[string][]table.Difference{
			change.Missing:   {{Kind: change.Missing, Key: "person:17", Detail: "no row"}},
			change.Different: {{Kind: change.Different, Key: "person:5", Detail: `age: row "26", Redis "27"`}},
			change.Gone:      {{Kind: change.Gone, Key: "person:99", Detail: "no key in Redis"}},
		},
	}
	r.WriteText(os.Stdout)
	r.Differences, r.Examples = map[string]int64{}, nil
	r.Rows = 1000
	r.WriteText(os.Stdout)
	// Output:
	// verify persons: 1000 keys of person in Redis, 1001 rows in persons: 4 differences (2 missing, 1 different, 1 gone) in 1.2s
	//   missing    "person:17"  no row
	//   missing    ... 1 more
	//   different  "person:5"  age: row "26", Redis "27"
	//   gone       "person:99"  no key in Redis
	// verify persons: 1000 keys of person in Redis, 1000 rows in persons: the table equals Redis (1.2s)
}
