package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/infra/platform"
)

// Config is what the tool needs to reach the stream.
type Config struct {
	NATS   platform.NATSConfig `envconfig:"NATS"`
	Stream string              `split_words:"true" default:"JETSYNC"`
}

// Exit statuses.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitUsage    = 2
	ExitNotFound = 4
)

// errUsage and errNotFound select the exit status.
var (
	errUsage    = errors.New("usage")
	errNotFound = errors.New("not found")
)

const usage = `jetsync — operate jetsync

  jetsync status [--json]                    the stream and every function's consumer: version, pending,
                                             ack pending, redeliveries, ack floor, dead letters, replay
  jetsync replay <function> --all | --from-seq N | --since TIME [--truncate] [--restart]
                                             replay history through the function (TIME: RFC 3339 or a
                                             duration ago, e.g. 90m); --truncate empties its table first;
                                             shows progress; Ctrl-C stops watching, the replay goes on
  jetsync replay <function>                  watch the replay in progress
  jetsync dlq list <function> [--json]       dead letters of a function: sequence, time, key, reason
  jetsync dlq show <function> <seq>          one dead letter: headers and body
  jetsync dlq requeue <function> <seq>...    send dead letters back through the function, in order
  jetsync dlq requeue <function> --all
  jetsync dlq requeue <function> --as-new <seq>...   as changes published now (older than the pruning horizon)
  jetsync dlq purge <function> [<seq>...]    delete dead letters (all of the function's without seqs)
  jetsync probe <url>                        GET a health endpoint; exit 0 only on 200 (container health checks)
  jetsync version

The bridge files keys it cannot read under the function name "bridge".
NATS: JETSYNC_NATS_URL (default nats://127.0.0.1:4222), _USER, _PASSWORD[_FILE],
_TOKEN[_FILE], _CREDS_FILE, _CA_FILE. Stream: JETSYNC_STREAM (default JETSYNC).
Exit status: 0 done, 1 failed, 2 usage, 4 nothing matched (no such stream, function or replay).
`

// Run runs one command and returns the exit status.
func Run(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, cfg, args, stdout)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "jetsync: %v\n\n%s", err, usage)
		return ExitUsage
	case errors.Is(err, errNotFound):
		fmt.Fprintln(stderr, "jetsync:", err)
		return ExitNotFound
	default:
		fmt.Fprintln(stderr, "jetsync:", err)
		return ExitFailed
	}
}

func run(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "jetsync", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "probe":
		return probe(ctx, args[1:], stdout)
	case "status":
		js, closeNATS, err := connect(cfg)
		if err != nil {
			return err
		}
		defer closeNATS()
		return runStatus(ctx, js, cfg.Stream, args[1:], stdout)
	case "replay":
		a, err := parseReplay(args[1:], time.Now())
		if err != nil {
			return err
		}
		js, closeNATS, err := connect(cfg)
		if err != nil {
			return err
		}
		defer closeNATS()
		r := replayer{js: js, stream: cfg.Stream, out: stdout, every: time.Second, tty: isTerminal(stdout)}
		if r.tty {
			r.every = 250 * time.Millisecond
		}
		return r.run(ctx, a)
	case "dlq":
		if len(args) < 3 {
			return fmt.Errorf("%w: dlq needs a subcommand and a function", errUsage)
		}
		js, closeNATS, err := connect(cfg)
		if err != nil {
			return err
		}
		defer closeNATS()
		d := dlq{js: js, stream: cfg.Stream, function: args[2], out: stdout}
		switch args[1] {
		case "list":
			return d.list(ctx, args[3:])
		case "show":
			return d.show(ctx, args[3:])
		case "requeue":
			return d.requeue(ctx, args[3:])
		case "purge":
			return d.purge(ctx, args[3:])
		}
		return fmt.Errorf("%w: unknown dlq subcommand %q", errUsage, args[1])
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func connect(cfg Config) (jetstream.JetStream, func(), error) {
	if err := cfg.NATS.Validate(); err != nil {
		return nil, nil, err
	}
	nc, err := cfg.NATS.Connect("jetsync-cli", slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// version is the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " (" + s.Value + ")"
			}
		}
		return v
	}
	return "(devel)"
}
