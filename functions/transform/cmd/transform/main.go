// Command transform is an example custom function: it writes person:<id>
// hashes into person_profiles with derived and converted columns.
package main

import (
	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/functions/transform"
	"github.com/jetsync/jetsync/handlers"
)

func main() {
	var cfg struct {
		handlers.Config
		Table string       `split_words:"true" default:"person_profiles"`
		MySQL mysql.Config `envconfig:"MYSQL"`
	}
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		handlers.Exit(err)
	}
	handlers.Serve(cfg.Config, transform.Profiles{Table: cfg.Table}, mysql.Opener(cfg.MySQL))
}
