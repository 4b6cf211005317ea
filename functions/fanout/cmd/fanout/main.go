// Command fanout is an example custom function: each person:<id> hash
// becomes a persons row and a person_emails row, in one transaction.
package main

import (
	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/functions/fanout"
	"github.com/jetsync/jetsync/handlers"
)

func main() {
	var cfg struct {
		handlers.Config
		PersonsTable string       `split_words:"true" default:"persons"`
		EmailsTable  string       `split_words:"true" default:"person_emails"`
		MySQL        mysql.Config `envconfig:"MYSQL"`
	}
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		handlers.Exit(err)
	}
	handlers.Serve(cfg.Config, fanout.FanOut{Persons: cfg.PersonsTable, Emails: cfg.EmailsTable}, mysql.Opener(cfg.MySQL))
}
