package connectors

import "database/sql"

// What `jetsync-table verify` reads back from a target: the same two types
// for every connector that can be read (the SQL sink, MongoDB, the Redis
// target), so that one verifier compares them all.

// Shape is what is read of a table: its key columns, which order the rows
// and identify them, and the other columns.
type Shape struct {
	Table   string
	Key     []string
	Columns []string
}

// Row is one row as text (the database's own text of each value: integers
// in decimal, bytes as they are): the key columns' values and the other
// columns', in the order of the Shape; a NULL (or a field a document or
// hash does not have) is not Valid.
type Row struct {
	Key    []string
	Values []sql.NullString
}
