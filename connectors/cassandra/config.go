package cassandra

import (
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/jetsync/jetsync/infra/platform"
)

// Config is how the connector reaches the cluster; variables are
// JETSYNC_CASSANDRA_*.
type Config struct {
	// Hosts are contact points, comma-separated host or host:port.
	Hosts    string `split_words:"true" default:"127.0.0.1:9042"`
	Keyspace string `split_words:"true" default:"jetsync"`
	// Consistency of writes: ANY, ONE, TWO, THREE, QUORUM, ALL,
	// LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE.
	Consistency  string          `split_words:"true" default:"LOCAL_QUORUM"`
	Username     string          `split_words:"true"`
	Password     platform.Secret `split_words:"true"`
	PasswordFile string          `split_words:"true"`
	// LocalDC routes requests to this datacenter's nodes first.
	LocalDc string `split_words:"true"`
	// TLS turns TLS on; the CA, client certificate and key are PEM files.
	TLS bool `split_words:"true"`
	// (Field names are spelled so that split_words derives TLS_CA_FILE
	// and so on: see "Secrets and configuration" in ARCHITECTURE.md.)
	TlsCaFile     string `split_words:"true"`
	TlsCertFile   string `split_words:"true"`
	TlsKeyFile    string `split_words:"true"`
	TlsSkipVerify bool   `split_words:"true"`
	// Timeout bounds each request and connecting.
	Timeout time.Duration `split_words:"true" default:"10s"`
	// MaxBatch bounds the statements of one unlogged batch.
	MaxBatch int `split_words:"true" default:"100"`
	// Concurrency bounds the batches of one write in flight.
	Concurrency int `split_words:"true" default:"8"`

	// AddressTranslator, when set, maps the addresses the cluster
	// announces (for tests through a proxy, or NAT). Not from the
	// environment.
	AddressTranslator gocql.AddressTranslator `ignored:"true"`
}

func (c Config) password() platform.SecretSource {
	return platform.SecretSource{Name: "JETSYNC_CASSANDRA_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

func (c Config) hosts() []string {
	var out []string
	for _, h := range strings.Split(c.Hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if err := platform.NoCredentials("JETSYNC_CASSANDRA_HOSTS", c.Hosts); err != nil {
		return err
	}
	if len(c.hosts()) == 0 {
		return fmt.Errorf("JETSYNC_CASSANDRA_HOSTS is empty: want host[:port],...")
	}
	if c.Keyspace == "" {
		return fmt.Errorf("JETSYNC_CASSANDRA_KEYSPACE is empty")
	}
	if _, err := gocql.ParseConsistencyWrapper(c.Consistency); err != nil {
		return fmt.Errorf("JETSYNC_CASSANDRA_CONSISTENCY=%q: use ONE, QUORUM, LOCAL_QUORUM, LOCAL_ONE, EACH_QUORUM, ALL, ANY, TWO or THREE", c.Consistency)
	}
	if (c.TlsCertFile == "") != (c.TlsKeyFile == "") {
		return fmt.Errorf("JETSYNC_CASSANDRA_TLS_CERT_FILE and JETSYNC_CASSANDRA_TLS_KEY_FILE go together: set both or neither")
	}
	if !c.TLS && (c.TlsCaFile != "" || c.TlsCertFile != "" || c.TlsSkipVerify) {
		return fmt.Errorf("JETSYNC_CASSANDRA_TLS_* files are set but JETSYNC_CASSANDRA_TLS is not true")
	}
	if c.Username == "" && (c.Password != "" || c.PasswordFile != "") {
		return fmt.Errorf("JETSYNC_CASSANDRA_PASSWORD is set but JETSYNC_CASSANDRA_USERNAME is empty")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("JETSYNC_CASSANDRA_TIMEOUT=%s: must be positive", c.Timeout)
	}
	if c.MaxBatch < 1 {
		return fmt.Errorf("JETSYNC_CASSANDRA_MAX_BATCH=%d: use at least 1", c.MaxBatch)
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("JETSYNC_CASSANDRA_CONCURRENCY=%d: use at least 1", c.Concurrency)
	}
	return c.password().Validate()
}
