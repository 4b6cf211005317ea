package platform

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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
	// CAFile is a PEM file of CAs to trust for tls:// URLs; CertFile and
	// KeyFile are a client certificate and its key (mutual TLS), read at
	// every connect. Any of them makes the connection TLS, the server's
	// host name verified.
	CAFile   string `split_words:"true"`
	CertFile string `split_words:"true"`
	KeyFile  string `split_words:"true"`
	// InboxPrefix replaces _INBOX in the subjects replies come back on, so
	// that a user may subscribe to its own replies only (README, Security).
	InboxPrefix string `split_words:"true"`
}

func (c NATSConfig) tlsFiles() TLSFiles {
	return TLSFiles{Var: "JETSYNC_NATS", CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}
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
			return fmt.Errorf("JETSYNC_NATS_URL=%q: want nats://host:port (or tls://), comma-separated", Redact(c.URL))
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
	if c.InboxPrefix != "" && (strings.ContainsAny(c.InboxPrefix, "*> \t") || strings.HasSuffix(c.InboxPrefix, ".")) {
		return fmt.Errorf("JETSYNC_NATS_INBOX_PREFIX=%q: use subject tokens without wildcards, spaces or a trailing '.'", c.InboxPrefix)
	}
	return c.tlsFiles().Validate()
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
		// Permission violations and slow consumers come here: a right the
		// user lacks is named in the log.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("nats", "subject", sub.Subject, "err", err)
				return
			}
			log.Error("nats", "err", err)
		}),
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
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
	if files := c.tlsFiles(); files.Any() {
		tlsCfg, err := files.Config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tlsCfg))
	}
	nc, err := nats.Connect(c.URL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", Redact(c.URL), err)
	}
	if v := nc.ConnectedServerVersion(); !AtLeast(v, minServer) {
		nc.Close()
		return nil, fmt.Errorf("NATS at %s is nats-server %s; jetsync needs %d.%d or newer (with JetStream)", Redact(c.URL), v, minServer[0], minServer[1])
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

// ValidName checks a JetStream stream or consumer (function) name given in
// the variable named variable.
func ValidName(variable, name string) error {
	if name == "" || strings.ContainsAny(name, ".*> \t\r\n/\\") {
		return fmt.Errorf("%s=%q: use a non-empty name without '.', '*', '>', '/', '\\' or spaces", variable, name)
	}
	return nil
}
