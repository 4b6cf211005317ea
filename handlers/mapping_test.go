package handlers_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jetsync/jetsync/handlers"
)

func TestParseMapping(t *testing.T) {
	tests := []struct {
		in   string
		want string // String() of the result, or the error's text
		err  bool
	}{
		{"first_name:first,last_name:last,age:age", "first_name:first,last_name:last,age:age", false},
		{" first_name : first , age ", "first_name:first,age:age", false},
		{"id:id,color:color", "id:id,color:color", false},
		{"", "mapping is empty", true},
		{"a:b,", "entry 2 is empty", true},
		{",a:b", "entry 1 is empty", true},
		{":b", `entry 1 ":b" has no field`, true},
		{"a:", `entry 1 "a:" has no column`, true},
		{"a:b:c", "more than one ':'", true},
		{"a:x,a:y", `maps field "a" a second time`, true},
		{"a:x,b:x", `maps to column "x" a second time`, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := handlers.ParseMapping(tt.in)
			if tt.err {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("ParseMapping(%q) error = %v, want one saying %q", tt.in, err, tt.want)
				}
				return
			}
			if err != nil || m.String() != tt.want {
				t.Fatalf("ParseMapping(%q) = %q, %v; want %q", tt.in, m, err, tt.want)
			}
		})
	}
}

func TestMappingValues(t *testing.T) {
	m, err := handlers.ParseMapping("first_name:first,last_name:last,age:age")
	if err != nil {
		t.Fatal(err)
	}
	cols := m.Values(map[string]string{"first_name": "Marek", "age": "27", "ignored": "x"})
	want := []handlers.Column{{Name: "first", Value: "Marek"}, {Name: "last", Value: nil}, {Name: "age", Value: "27"}}
	if fmt.Sprint(cols) != fmt.Sprint(want) {
		t.Fatalf("Values = %v, want %v", cols, want)
	}
}

func ExampleParseMapping() {
	m, _ := handlers.ParseMapping("first_name:first,last_name:last,age:age")
	fmt.Println(m.Columns())
	for _, c := range m.Values(map[string]string{"first_name": "Marek", "age": "27", "nickname": "ignored"}) {
		fmt.Printf("%s=%v\n", c.Name, c.Value)
	}
	// Output:
	// [first last age]
	// first=Marek
	// last=<nil>
	// age=27
}
