package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

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
  jetsync replay <function> --all | --from-seq N | --since TIME [--truncate --yes] [--restart]
                                             replay history through the function (TIME: RFC 3339 or a
                                             duration ago, e.g. 90m); --truncate empties its table first
                                             (and needs --yes); shows progress; Ctrl-C stops watching,
                                             the replay goes on
  jetsync replay <function>                  watch the replay in progress
  jetsync dlq list <function> [--json] [--limit N]   dead letters of a function: sequence, time, key, reason
  jetsync dlq show <function> <seq>          one dead letter: headers and body
  jetsync dlq requeue <function> <seq>...    send dead letters back through the function, in order
  jetsync dlq requeue <function> --all
  jetsync dlq requeue <function> --as-new <seq>...   as changes published now (older than the pruning horizon)
  jetsync dlq purge <function> [<seq>...] --yes      delete dead letters (all of the function's without seqs)
  jetsync probe <url>                        GET a health endpoint; exit 0 only on 200 (container health checks)
  jetsync completion bash|zsh|fish|powershell        a shell completion script
  jetsync version

Every command takes --help; flags may come anywhere. The bridge files keys it cannot read under the
function name "bridge". NATS: --nats-url, --nats-creds, --stream, or JETSYNC_NATS_URL (default
nats://127.0.0.1:4222), _USER, _PASSWORD[_FILE], _TOKEN[_FILE], _CREDS_FILE, _CA_FILE, JETSYNC_STREAM
(default JETSYNC). Exit status: 0 done, 1 failed, 2 usage, 4 nothing matched (no such stream,
function or replay).
`

// Run runs one command and returns the exit status.
func Run(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) int {
	root := newRoot(&cfg, stdout)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "jetsync: %s\n\n%s", platform.Redact(err.Error()), usage)
		return ExitUsage
	case errors.Is(err, errNotFound):
		fmt.Fprintln(stderr, "jetsync:", platform.Redact(err.Error()))
		return ExitNotFound
	default:
		fmt.Fprintln(stderr, "jetsync:", platform.Redact(err.Error()))
		return ExitFailed
	}
}

// newRoot is the command tree; cfg is read (and changed by the NATS flags)
// when a command runs.
func newRoot(cfg *Config, out io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "jetsync",
		Short:         "operate jetsync: status, replays, dead letters",
		Long:          usage,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          usageArgs(cobra.NoArgs),
		RunE:          func(*cobra.Command, []string) error { return fmt.Errorf("%w: no command", errUsage) },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	root.PersistentFlags().StringVar(&cfg.NATS.URL, "nats-url", cfg.NATS.URL, "NATS server URL (JETSYNC_NATS_URL)")
	root.PersistentFlags().StringVar(&cfg.NATS.CredsFile, "nats-creds", cfg.NATS.CredsFile, "NATS .creds file (JETSYNC_NATS_CREDS_FILE)")
	root.PersistentFlags().StringVar(&cfg.Stream, "stream", cfg.Stream, "the change stream (JETSYNC_STREAM)")
	withNATS := func(f func(ctx context.Context, js jetstream.JetStream) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			js, closeNATS, err := connect(*cfg)
			if err != nil {
				return err
			}
			defer closeNATS()
			return f(c.Context(), js)
		}
	}

	var asJSON bool
	status := &cobra.Command{Use: "status", Short: "the stream and every function's consumer", Args: usageArgs(cobra.NoArgs)}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	status.RunE = func(c *cobra.Command, args []string) error {
		return withNATS(func(ctx context.Context, js jetstream.JetStream) error {
			return runStatus(ctx, js, cfg.Stream, asJSON, out)
		})(c, args)
	}

	var rp struct {
		all, truncate, restart, yes bool
		fromSeq, since              string
	}
	replay := &cobra.Command{Use: "replay <function>", Short: "replay history through a function, or watch the replay in progress", Args: usageArgs(cobra.ExactArgs(1))}
	replay.Flags().BoolVar(&rp.all, "all", false, "from the start of the stream")
	replay.Flags().StringVar(&rp.fromSeq, "from-seq", "", "from this stream sequence")
	replay.Flags().StringVar(&rp.since, "since", "", "from this time (RFC 3339) or this long ago (90m)")
	replay.Flags().BoolVar(&rp.truncate, "truncate", false, "empty the function's table first (needs --yes)")
	replay.Flags().BoolVar(&rp.restart, "restart", false, "drop the replay in progress and start over")
	replay.Flags().BoolVar(&rp.yes, "yes", false, "confirm --truncate")
	replay.RunE = func(c *cobra.Command, args []string) error {
		if rp.truncate && !rp.yes {
			return fmt.Errorf("%w: replay --truncate deletes every row of %s's table first; add --yes to go on", errUsage, args[0])
		}
		list := []string{args[0]}
		for flag, on := range map[string]bool{"--all": rp.all, "--truncate": rp.truncate, "--restart": rp.restart} {
			if on {
				list = append(list, flag)
			}
		}
		if rp.fromSeq != "" {
			list = append(list, "--from-seq", rp.fromSeq)
		}
		if rp.since != "" {
			list = append(list, "--since", rp.since)
		}
		a, err := parseReplay(list, time.Now())
		if err != nil {
			return err
		}
		return withNATS(func(ctx context.Context, js jetstream.JetStream) error {
			r := replayer{js: js, stream: cfg.Stream, out: out, every: time.Second, tty: platform.IsTerminal(out)}
			if r.tty {
				r.every = 250 * time.Millisecond
			}
			return r.run(ctx, a)
		})(c, args)
	}

	dlqCmd := &cobra.Command{Use: "dlq", Short: "dead letters: list, show, requeue, purge",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%w: dlq needs a subcommand and a function", errUsage)
			}
			return fmt.Errorf("%w: unknown dlq subcommand %q", errUsage, args[0])
		}}
	onDLQ := func(f func(ctx context.Context, d dlq, args []string) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			return withNATS(func(ctx context.Context, js jetstream.JetStream) error {
				return f(ctx, dlq{js: js, stream: cfg.Stream, function: args[0], out: out}, args[1:])
			})(c, args)
		}
	}
	var limit int
	var listJSON bool
	list := &cobra.Command{Use: "list <function>", Short: "dead letters of a function", Args: usageArgs(cobra.ExactArgs(1)),
		RunE: onDLQ(func(ctx context.Context, d dlq, _ []string) error { return d.list(ctx, listJSON, limit) })}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	list.Flags().IntVar(&limit, "limit", 0, "at most this many, the oldest first (0: all)")
	show := &cobra.Command{Use: "show <function> <seq>", Short: "one dead letter: headers and body", Args: usageArgs(cobra.ExactArgs(2)),
		RunE: onDLQ(func(ctx context.Context, d dlq, args []string) error { return d.show(ctx, args) })}
	var all, asNew bool
	requeue := &cobra.Command{Use: "requeue <function> <seq>... | --all", Short: "send dead letters back through the function, in order", Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: onDLQ(func(ctx context.Context, d dlq, args []string) error { return d.requeue(ctx, args, all, asNew) })}
	requeue.Flags().BoolVar(&all, "all", false, "every dead letter of the function")
	requeue.Flags().BoolVar(&asNew, "as-new", false, "as changes published now (older than the pruning horizon)")
	var yes bool
	purge := &cobra.Command{Use: "purge <function> [<seq>...] --yes", Short: "delete dead letters (all of the function's without seqs)", Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: onDLQ(func(ctx context.Context, d dlq, args []string) error {
			if !yes {
				what := "every dead letter of " + d.function
				if len(args) > 0 {
					what = fmt.Sprintf("%d dead letters of %s", len(args), d.function)
				}
				return fmt.Errorf("%w: dlq purge deletes %s for good; add --yes to go on", errUsage, what)
			}
			return d.purge(ctx, args)
		})}
	purge.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	dlqCmd.AddCommand(list, show, requeue, purge)

	probeCmd := &cobra.Command{Use: "probe <url>", Short: "GET a health endpoint; exit 0 only on 200", Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error { return probe(c.Context(), args[0], out) }}
	versionCmd := &cobra.Command{Use: "version", Short: "the build", Args: usageArgs(cobra.NoArgs),
		Run: func(*cobra.Command, []string) { fmt.Fprintln(out, "jetsync", platform.Version()) }}
	root.AddCommand(status, replay, dlqCmd, probeCmd, versionCmd)
	return root
}

// usageArgs makes an argument check's error a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, c.CommandPath(), err)
		}
		return nil
	}
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
