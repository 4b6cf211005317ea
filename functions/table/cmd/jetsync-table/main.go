// Command jetsync-table is the generic table function: it writes the hashes
// of one key prefix into one table, mapping hash fields to columns, with no
// code. Everything is configured by JETSYNC_* variables; see the README.
package main

import (
	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/functions/table"
	"github.com/jetsync/jetsync/handlers"
)

func main() {
	var cfg table.Config
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		handlers.Exit(err)
	}
	fn, open, err := table.Build(cfg)
	if err != nil {
		handlers.Exit(err)
	}
	handlers.Serve(cfg.Config, fn, open)
}
