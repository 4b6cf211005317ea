package handlers

import (
	"fmt"
	"strings"
)

// Mapping maps hash fields to table columns, in a fixed order.
type Mapping []FieldColumn

// FieldColumn maps one hash field to one column.
type FieldColumn struct {
	Field, Column string
}

// ParseMapping parses "field:column,field:column,...". A lone "field" maps to
// a column of the same name. Spaces around names are dropped. Fields and
// columns must each be unique.
func ParseMapping(s string) (Mapping, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("mapping is empty: want field:column,field:column")
	}
	var m Mapping
	fields, columns := map[string]bool{}, map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		field, column, hasColon := strings.Cut(entry, ":")
		field, column = strings.TrimSpace(field), strings.TrimSpace(column)
		if !hasColon {
			column = field
		}
		switch {
		case strings.TrimSpace(entry) == "":
			return nil, fmt.Errorf("mapping entry %d is empty (a stray ',')", i+1)
		case field == "":
			return nil, fmt.Errorf("mapping entry %d %q has no field before ':'", i+1, entry)
		case column == "":
			return nil, fmt.Errorf("mapping entry %d %q has no column after ':'", i+1, entry)
		case strings.Contains(column, ":"):
			return nil, fmt.Errorf("mapping entry %d %q has more than one ':'", i+1, entry)
		case fields[field]:
			return nil, fmt.Errorf("mapping entry %d %q maps field %q a second time", i+1, entry, field)
		case columns[column]:
			return nil, fmt.Errorf("mapping entry %d %q maps to column %q a second time", i+1, entry, column)
		}
		fields[field], columns[column] = true, true
		m = append(m, FieldColumn{Field: field, Column: column})
	}
	return m, nil
}

// String returns the mapping in the syntax ParseMapping reads.
func (m Mapping) String() string {
	parts := make([]string, len(m))
	for i, fc := range m {
		parts[i] = fc.Field + ":" + fc.Column
	}
	return strings.Join(parts, ",")
}

// Columns returns the mapped column names in order.
func (m Mapping) Columns() []string {
	cols := make([]string, len(m))
	for i, fc := range m {
		cols[i] = fc.Column
	}
	return cols
}

// Values returns one column per mapped field: the field's value, or NULL
// (nil) when the hash has no such field. Fields that are not mapped are
// ignored.
func (m Mapping) Values(fields map[string]string) []Column {
	cols := make([]Column, len(m))
	for i, fc := range m {
		cols[i].Name = fc.Column
		if v, ok := fields[fc.Field]; ok {
			cols[i].Value = v
		}
	}
	return cols
}
