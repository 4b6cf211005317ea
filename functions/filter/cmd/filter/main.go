// Command filter is an example custom function: it writes person:<id> hashes
// into persons like the table function, but skips test users.
package main

import (
	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/functions/filter"
	"github.com/jetsync/jetsync/handlers"
)

func main() {
	var cfg struct {
		handlers.Config
		Table        string       `split_words:"true" default:"persons"`
		SkipIDPrefix string       `split_words:"true" default:"test-"`
		MySQL        mysql.Config `envconfig:"MYSQL"`
	}
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		handlers.Exit(err)
	}
	handlers.Serve(cfg.Config, filter.NoTestUsers{Table: cfg.Table, SkipIDPrefix: cfg.SkipIDPrefix}, mysql.Opener(cfg.MySQL))
}
