package cassandra

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

var _ handlers.Sink = (*Sink)(nil)

// Sink writes ops to the tables of one keyspace.
type Sink struct {
	session     *gocql.Session
	cfg         Config
	consistency gocql.Consistency

	mu         sync.Mutex
	partitions map[string][]string // table -> partition key columns
}

// Open validates cfg and connects. While no host can be reached it retries
// (logging each failure) until ctx ends; bad credentials stop it at once.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	consistency, _ := gocql.ParseConsistencyWrapper(cfg.Consistency) // Validate checked it
	cluster := gocql.NewCluster(cfg.hosts()...)
	cluster.Keyspace = cfg.Keyspace
	cluster.Consistency = consistency
	cluster.Timeout = cfg.Timeout
	cluster.ConnectTimeout = cfg.Timeout
	cluster.AddressTranslator = cfg.AddressTranslator
	if cfg.AddressTranslator != nil {
		cluster.DisableInitialHostLookup = true
	}
	cluster.ReconnectionPolicy = &gocql.ExponentialReconnectionPolicy{MaxRetries: 1 << 20, InitialInterval: 200 * time.Millisecond, MaxInterval: 10 * time.Second}
	if cfg.LocalDc != "" {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(cfg.LocalDc))
	} else {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	}
	if cfg.Username != "" {
		pw := cfg.password()
		// Called for every new connection: a rotated password file is
		// picked up without a restart.
		cluster.AuthProvider = func(*gocql.HostInfo) (gocql.Authenticator, error) {
			p, err := pw.Read()
			if err != nil {
				return nil, err
			}
			return gocql.PasswordAuthenticator{Username: cfg.Username, Password: p}, nil
		}
	}
	if cfg.TLS {
		cluster.SslOpts = &gocql.SslOptions{
			Config:                 &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TlsSkipVerify},
			CaPath:                 cfg.TlsCaFile,
			CertPath:               cfg.TlsCertFile,
			KeyPath:                cfg.TlsKeyFile,
			EnableHostVerification: !cfg.TlsSkipVerify,
		}
	}
	var session *gocql.Session
	err := connectors.Connect(ctx, log, func(context.Context) error {
		var err error
		if session, err = cluster.CreateSession(); err != nil {
			return fmt.Errorf("cassandra at %s, keyspace %q: %w", cfg.Hosts, cfg.Keyspace, err)
		}
		return nil
	}, isConfigError)
	if err != nil {
		return nil, err
	}
	return &Sink{session: session, cfg: cfg, consistency: consistency, partitions: map[string][]string{}}, nil
}

func isConfigError(err error) bool {
	var re gocql.RequestError
	if errors.As(err, &re) {
		return re.Code() == gocql.ErrCodeCredentials || re.Code() == gocql.ErrCodeUnauthorized
	}
	return strings.Contains(err.Error(), "authentication")
}

// Close closes the session.
func (s *Sink) Close() error {
	s.session.Close()
	return nil
}

// Session returns the session, for tools and tests.
func (s *Sink) Session() *gocql.Session { return s.session }

// partitionKey returns table's partition key columns from the keyspace's
// metadata (cached), or nil when it cannot be read (then every key column
// counts as partition key: batches are smaller, never wrong).
func (s *Sink) partitionKey(table string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cols, ok := s.partitions[table]; ok {
		return cols
	}
	var cols []string
	if km, err := s.session.KeyspaceMetadata(s.cfg.Keyspace); err == nil {
		if tm, ok := km.Tables[table]; ok {
			for _, c := range tm.PartitionKey {
				cols = append(cols, c.Name)
			}
			s.partitions[table] = cols
		}
	}
	return cols
}

// Write writes every op with its timestamp, in unlogged batches per
// partition, concurrently. It is not atomic across partitions; a retried
// write is harmless because every statement is idempotent by timestamp.
func (s *Sink) Write(ctx context.Context, w handlers.Write) error {
	batches := plan(w, s.partitionKey, s.cfg.MaxBatch)
	errs := make([]error, len(batches))
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, b := range batches {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = s.exec(ctx, b)
		}()
	}
	wg.Wait()
	return combine(errs)
}

func (s *Sink) exec(ctx context.Context, b batch) error {
	var err error
	if len(b.stmts) == 1 {
		st := b.stmts[0]
		err = s.session.Query(st.cql, st.args...).WithContext(ctx).Consistency(s.consistency).Idempotent(true).Exec()
	} else {
		gb := s.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
		gb.SetConsistency(s.consistency)
		for _, st := range b.stmts {
			gb.Query(st.cql, st.args...)
		}
		err = s.session.ExecuteBatch(gb)
	}
	if err != nil {
		return classify(fmt.Errorf("write %d statements to %s: %w", len(b.stmts), quote(b.table), err))
	}
	return nil
}

// combine returns nil when every batch succeeded, a permanent error when
// every failure was permanent (the runtime then isolates the bad op), and
// a transient one otherwise (the whole write is retried).
func combine(errs []error) error {
	var failed []error
	permanent := true
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
			permanent = permanent && handlers.IsPermanent(err)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case permanent:
		return errors.Join(failed...)
	}
	var transient []error
	for _, err := range failed {
		if !handlers.IsPermanent(err) {
			transient = append(transient, err)
		}
	}
	return errors.Join(transient...)
}

// classify: a value the driver cannot marshal to the column's type, and a
// request the server calls invalid for reasons other than the schema
// (an empty partition key, a value too large), are permanent. Everything
// else, timeouts, unavailable replicas, overload, connections, unknown
// tables or columns (the schema is checked at start and may be being
// migrated), is transient.
func classify(err error) error {
	var me gocql.MarshalError
	if errors.As(err, &me) {
		return handlers.Permanent(err)
	}
	var re gocql.RequestError
	if errors.As(err, &re) && re.Code() == gocql.ErrCodeInvalid {
		msg := strings.ToLower(re.Message())
		for _, schema := range []string{"unconfigured table", "undefined column", "keyspace", "does not exist", "unknown identifier"} {
			if strings.Contains(msg, schema) {
				return err
			}
		}
		return handlers.Permanent(err)
	}
	return err
}

// CheckTable checks that table exists in the keyspace with every column in
// key and columns, and that the key columns are its primary key (partition
// and clustering columns), so that an INSERT overwrites one row.
func (s *Sink) CheckTable(_ context.Context, table string, key, columns []string) error {
	km, err := s.session.KeyspaceMetadata(s.cfg.Keyspace)
	if err != nil {
		return fmt.Errorf("read keyspace %q: %w", s.cfg.Keyspace, err)
	}
	tm, ok := km.Tables[table]
	if !ok {
		return fmt.Errorf("table %q does not exist in keyspace %q: create it first (see infra/sql/cassandra)", table, s.cfg.Keyspace)
	}
	var missing []string
	for _, c := range append(append([]string{}, key...), columns...) {
		if _, ok := tm.Columns[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %q in keyspace %q has no column %s", table, s.cfg.Keyspace, strings.Join(missing, ", "))
	}
	if len(key) == 0 {
		return nil
	}
	primary := map[string]bool{}
	for _, c := range append(append([]*gocql.ColumnMetadata{}, tm.PartitionKey...), tm.ClusteringColumns...) {
		primary[c.Name] = true
	}
	if len(primary) != len(key) {
		return fmt.Errorf("key column %s of table %q is not its primary key", strings.Join(key, ", "), table)
	}
	for _, k := range key {
		if !primary[k] {
			return fmt.Errorf("key column %s of table %q is not its primary key", strings.Join(key, ", "), table)
		}
	}
	return nil
}

// Opener returns a handlers.Opener that opens a Sink with cfg, for
// handlers.Serve.
func Opener(cfg Config) handlers.Opener {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		return Open(ctx, cfg, log)
	}
}
