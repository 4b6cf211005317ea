package platform

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSConfig is how a process reaches NATS. Secrets are re-read on every
// (re)connect.
type NATSConfig struct {
	URL          string `split_words:"true" default:"nats://127.0.0.1:4222"`
	User         string `split_words:"true"`
	Password     Secret `split_words:"true"`
	PasswordFile string `split_words:"true"`
	Token        Secret `split_words:"true"`
	TokenFile    string `split_words:"true"`
	// CredsFile is a NATS .creds file (JWT and seed); it is read on every connect.
	CredsFile string `split_words:"true"`
	// CAFile is a PEM file of CAs to trust for tls:// URLs.
	CAFile string `split_words:"true"`
}

func (c NATSConfig) password() SecretSource {
	return SecretSource{Name: "JETSYNC_NATS_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

func (c NATSConfig) token() SecretSource {
	return SecretSource{Name: "JETSYNC_NATS_TOKEN", Literal: c.Token, File: c.TokenFile}
}

// Validate checks the URL and the secrets.
func (c NATSConfig) Validate() error {
	if c.URL == "" {
		return fmt.Errorf("JETSYNC_NATS_URL is empty")
	}
	for _, u := range strings.Split(c.URL, ",") {
		if !strings.Contains(u, "://") {
			return fmt.Errorf("JETSYNC_NATS_URL=%q: want nats://host:port (or tls://), comma-separated", c.URL)
		}
	}
	if err := c.password().Validate(); err != nil {
		return err
	}
	if err := c.token().Validate(); err != nil {
		return err
	}
	if (c.Password != "" || c.PasswordFile != "") && c.User == "" {
		return fmt.Errorf("JETSYNC_NATS_PASSWORD is set but JETSYNC_NATS_USER is not")
	}
	return nil
}

// minServer is the oldest nats-server jetsync runs on: consumer metadata,
// which versioned registration relies on, came in 2.10.
var minServer = [2]int{2, 10}

// Connect opens a NATS connection that reconnects forever and logs its state
// changes; extra options come last. It fails when the server is older than
// 2.10.
func (c NATSConfig) Connect(name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if c.User != "" {
		pw := c.password()
		opts = append(opts, nats.UserInfoHandler(func() (string, string) {
			p, err := pw.Read()
			if err != nil {
				log.Error("nats password", "err", err)
			}
			return c.User, p
		}))
	}
	if c.Token != "" || c.TokenFile != "" {
		tok := c.token()
		opts = append(opts, nats.TokenHandler(func() string {
			t, err := tok.Read()
			if err != nil {
				log.Error("nats token", "err", err)
			}
			return t
		}))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	nc, err := nats.Connect(c.URL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redactURL(c.URL), err)
	}
	if v := nc.ConnectedServerVersion(); !AtLeast(v, minServer) {
		nc.Close()
		return nil, fmt.Errorf("NATS at %s is nats-server %s; jetsync needs %d.%d or newer (with JetStream)", redactURL(c.URL), v, minServer[0], minServer[1])
	}
	return nc, nil
}

// AtLeast reports whether a nats-server version is want or newer.
func AtLeast(version string, want [2]int) bool {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > want[0] || major == want[0] && minor >= want[1]
}

// redactURL drops user info from a NATS URL for messages.
func redactURL(u string) string {
	var out []string
	for _, one := range strings.Split(u, ",") {
		if scheme, rest, ok := strings.Cut(one, "://"); ok {
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				rest = "[redacted]@" + rest[at+1:]
			}
			one = scheme + "://" + rest
		}
		out = append(out, one)
	}
	return strings.Join(out, ",")
}

// StreamConfig describes the change stream.
type StreamConfig struct {
	Name     string        `envconfig:"STREAM" default:"JETSYNC"`
	MaxAge   time.Duration `envconfig:"STREAM_MAX_AGE" default:"168h"`
	MaxBytes int64         `envconfig:"STREAM_MAX_BYTES" default:"-1"`
	Replicas int           `envconfig:"STREAM_REPLICAS" default:"1"`
}

// Validate checks the stream settings.
func (c StreamConfig) Validate() error {
	if err := ValidName("JETSYNC_STREAM", c.Name); err != nil {
		return err
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("JETSYNC_STREAM_MAX_AGE=%s: must not be negative (0 keeps messages forever)", c.MaxAge)
	}
	if c.MaxBytes == 0 || c.MaxBytes < -1 {
		return fmt.Errorf("JETSYNC_STREAM_MAX_BYTES=%d: use -1 for no limit or a positive size", c.MaxBytes)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("JETSYNC_STREAM_REPLICAS=%d: use 1 to 5", c.Replicas)
	}
	return nil
}

// DeadLetterStream is the name of the dead-letter stream of the change
// stream name; its subjects (DeadLetterRoot.>) do not overlap the changes'.
func DeadLetterStream(stream string) string { return stream + "_DLQ" }

// DeadLetterRoot is the first token of every dead-letter subject.
const DeadLetterRoot = "jetsync-dlq"

// EnsureStream creates the change stream or updates it to c: file storage,
// limits retention, subjects "jetsync.>", a 2-minute duplicate window.
func EnsureStream(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.Name,
		Description: "jetsync changes of Redis keys",
		Subjects:    []string{"jetsync.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		Replicas:    c.Replicas,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", c.Name, err)
	}
	return s, nil
}

// EnsureDeadLetterStream creates the dead-letter stream of the change stream
// name (or updates it) with as many replicas as the change stream: losing a
// node must not stop dead-lettering. Dead letters are kept until removed.
func EnsureDeadLetterStream(ctx context.Context, js jetstream.JetStream, stream string, replicas int) (jetstream.Stream, error) {
	name := DeadLetterStream(stream)
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "jetsync changes that a function could not apply",
		Subjects:    []string{DeadLetterRoot + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", name, err)
	}
	return s, nil
}

// ValidName checks a JetStream stream or consumer (function) name given in
// the variable named variable.
func ValidName(variable, name string) error {
	if name == "" || strings.ContainsAny(name, ".*> \t\r\n/\\") {
		return fmt.Errorf("%s=%q: use a non-empty name without '.', '*', '>', '/', '\\' or spaces", variable, name)
	}
	return nil
}

// ReplyRoot is the first token of write-through reply subjects:
// jetsync-reply.<token>.
const ReplyRoot = "jetsync-reply"

// ReplyStream is the name of the write-through reply stream of the change
// stream name.
func ReplyStream(stream string) string { return stream + "_REPLIES" }

// EnsureReplyStream creates (or updates) the stream functions answer
// write-through calls on: subjects jetsync-reply.>, kept for an hour, with as
// many replicas as the change stream.
func EnsureReplyStream(ctx context.Context, js jetstream.JetStream, stream string, replicas int) (jetstream.Stream, error) {
	name := ReplyStream(stream)
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "jetsync write-through answers: committed or refused",
		Subjects:    []string{ReplyRoot + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      time.Hour,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", name, err)
	}
	return s, nil
}

// StreamReplicas is how many replicas stream has; 1 when it cannot be read
// (the support streams a function creates then start at one replica, and
// the bridge raises them to its JETSYNC_STREAM_REPLICAS).
func StreamReplicas(ctx context.Context, js jetstream.JetStream, stream string) int {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 1
	}
	return max(1, s.CachedInfo().Config.Replicas)
}
