package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/jetsync/jetsync/infra/platform"
)

// Opener opens the function's sink; Serve calls it once at start.
type Opener func(ctx context.Context, log *slog.Logger) (Sink, error)

// Serve is the body of a function's main: it makes the logger, opens the
// sink, runs fn until SIGINT or SIGTERM and exits the process, with status 1
// and the reason when the function cannot start. cfg comes from envconfig in
// main:
//
//	func main() {
//		var cfg struct {
//			handlers.Config
//			MySQL mysql.Config `envconfig:"MYSQL"`
//		}
//		if err := envconfig.Process("jetsync", &cfg); err != nil {
//			handlers.Exit(err)
//		}
//		handlers.Serve(cfg.Config, MyFunction{}, mysql.Opener(cfg.MySQL))
//	}
func Serve(cfg Config, fn Function, open Opener) {
	log := platform.NewLogger(cfg.LogConfig, nil)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg, fn, open, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("function stopped", "function", cfg.withIdentity(fn).Name, "err", err)
		stop()
		os.Exit(1)
	}
}

// Run checks cfg, opens the sink and runs fn until ctx is done: Serve
// without the process around it, for tests and embedding.
func Run(ctx context.Context, cfg Config, fn Function, open Opener, log *slog.Logger) error {
	cfg = cfg.withIdentity(fn)
	if err := cfg.Validate(); err != nil {
		return err
	}
	sink, err := open(ctx, log)
	if err != nil {
		return err
	}
	r, err := New(cfg, fn, sink, log)
	if err != nil {
		sink.Close()
		return err
	}
	return r.Run(ctx)
}

// Exit prints a configuration error for a person and exits with status 2.
func Exit(err error) {
	fmt.Fprintln(os.Stderr, filepath.Base(os.Args[0])+": configuration:", platform.Redact(err.Error()))
	os.Exit(2)
}
