// Command ferretdb runs FerretDB (a MongoDB-wire server) on a PostgreSQL
// database or an SQLite directory, for the tests of connectors/mongodb. It is a module of its own
// so that FerretDB and its dependencies stay out of jetsync's go.mod: only
// the tests build it (testenv.FerretDB).
//
//	ferretdb -listen 127.0.0.1:27017 -postgresql postgres://127.0.0.1:5432/db
//	ferretdb -listen 127.0.0.1:27017 -dir /path/to/data
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to serve the MongoDB wire protocol on")
	pg := flag.String("postgresql", "", "PostgreSQL URL of the database to keep the documents in")
	dir := flag.String("dir", "", "directory of the SQLite databases (when -postgresql is not given)")
	flag.Parse()
	cfg := ferretdb.Config{Handler: "sqlite", SQLiteURL: "file:" + *dir + "/"}
	switch {
	case *pg != "":
		cfg = ferretdb.Config{Handler: "postgresql", PostgreSQLURL: *pg}
	case *dir == "":
		fmt.Fprintln(os.Stderr, "ferretdb: -postgresql or -dir is required")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.Listener = ferretdb.ListenerConfig{TCP: *listen}
	cfg.Logger = log
	f, err := ferretdb.New(&cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println(f.MongoDBURI())
	if err := f.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}
