package bridge

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
)

// Config is the bridge's configuration; main fills it from JETSYNC_*
// variables with envconfig.
type Config struct {
	Redis RedisConfig         `envconfig:"REDIS"`
	NATS  platform.NATSConfig `envconfig:"NATS"`
	streams.StreamConfig
	platform.LogConfig
	platform.HTTPConfig

	// Prefixes are the key prefixes to carry, each with its value type:
	// "person,car,settings:json,greeting:string". A hash (the default) maps
	// its fields; json, a string holding a JSON object, maps its top-level
	// fields; string maps the whole value as the field "value".
	Prefixes []string `split_words:"true" required:"true"`
	// Journal names the prefixes whose writes go through the jetsync Redis
	// functions (FCALL jetsync_hset ...) and are read from their journal
	// stream as well, so that nothing is lost while no bridge runs; "*" for all.
	Journal []string `split_words:"true"`
	// WriteThrough names the prefixes that accept write-through calls
	// (FCALL jetsync_write_through ...); "*" for all.
	WriteThrough []string `split_words:"true"`
	// Rgsync names the hash prefixes whose field '#' is rgsync's in-band
	// operation ('=', '~', '+', '-', each with an optional id acknowledged
	// on {<key>}<id>); "*" for all. Off by default: elsewhere '#' is an
	// ordinary field.
	Rgsync []string `split_words:"true"`
	// OnExpired and OnEvicted say what an expired or evicted key does to its
	// row: "ignore" (a cache eviction is not a deletion of the data) or "delete".
	OnExpired string `split_words:"true" default:"ignore"`
	OnEvicted string `split_words:"true" default:"ignore"`
	// Workers is how many keys are read and published concurrently, in
	// batches of up to Batch keys each.
	Workers int `split_words:"true" default:"4"`
	Batch   int `split_words:"true" default:"256"`
	// BatchBytes bounds the bytes one worker reads at once, as Redis's
	// MEMORY USAGE estimates them: a batch stops short of it, and a key
	// larger than it is read alone. Keys too large for a message are measured
	// (STRLEN, HSTRLEN) and dead-lettered without being read.
	BatchBytes int64 `split_words:"true" default:"8388608"`
	// HALease makes bridges of the same Redis take turns: one active, the
	// others standing by, through a lease in a NATS KV bucket.
	HALease bool `split_words:"true" default:"true"`
	// HAGroup names the lease; by default one per Redis address and database.
	HAGroup string `split_words:"true"`
	// HATTL is how long a lease lives without renewal: a standby takes over
	// within about this long after the active bridge dies.
	HATTL time.Duration `envconfig:"HA_TTL" default:"5s"`
	// PublishTimeout is how long the bridge waits for a PubAck before it
	// sends the message again (with the same Nats-Msg-Id, so it is stored
	// once): an ack lost in a stream leader change or a reconnect.
	PublishTimeout time.Duration `split_words:"true" default:"5s"`
	// Heartbeat is how often the bridge writes its heartbeat key
	// (jetsync:heartbeat:<run>) and expects the key's notification back.
	// When none comes back for 5 heartbeats (a restarted Redis or a promoted
	// replica with notifications off, a dead subscription), the bridge
	// reports not ready, counts a gap, sets notify-keyspace-events again when
	// allowed, and resyncs once notifications flow again. 0 turns the
	// heartbeat off: the setting is then checked every 10 s.
	Heartbeat time.Duration `split_words:"true" default:"1s"`
	// ShutdownGrace bounds how long a stopping bridge keeps publishing what
	// it has already read.
	ShutdownGrace time.Duration `split_words:"true" default:"10s"`

	// hooks switch mechanisms off, for the tests that show what they prevent.
	hooks testHooks
}

// testHooks turn off one mechanism each; the tests that prove a guarantee
// also run with its mechanism off and expect to see the loss.
type testHooks struct {
	noNotifyWatch             bool          // no re-assert on resubscribe, no heartbeat
	redisErrorsAreKeyErrors   bool          // BUSY, LOADING, ... dead-letter the key
	noPublishTimeout          bool          // wait for a PubAck forever
	publishErrorsAreTransient bool          // retry what can never be stored
	noDeadLetterDedup         bool          // file a poison key again at every resync
	noTrimCheck               bool          // do not look for journal entries removed unread
	noHandover                bool          // a stopping bridge drops its queued deletions
	noSizeCheck               bool          // read every key of a batch, whatever its size
	noFence                   bool          // publish without an epoch
	noReclaim                 bool          // leave entries another bridge read and never acknowledged
	unsharded                 bool          // deal keys round robin to the workers, the first lagging before it publishes
	noResync                  bool          // never scan a prefix: only what is notified is carried
	carriedMastersOnly        bool          // readiness counts the subscribed cluster masters only
	noTopologyWatch           bool          // subscribe to the first cluster masters, never look again
	ignoreLease               bool          // active at once, whoever holds the lease
	stuckIdle                 time.Duration // instead of stuckIdle, so tests need not wait
	noCallOrder               bool          // complete write-through calls in answer order, not call order
	noAnswerCheck             bool          // complete a call answered by any function, whatever prefix it consumes
	noRGSyncTake              bool          // leave rgsync's '#' to the worker's read instead of taking it at the notification
	readLag                   time.Duration // a worker waits this long before each read: a busy bridge
}

// RedisConfig is how the bridge reaches Redis.
type RedisConfig struct {
	// Addr is host:port; with Cluster, a comma-separated list of seed nodes.
	Addr         string          `split_words:"true" default:"127.0.0.1:6379"`
	Username     string          `split_words:"true"`
	Password     platform.Secret `split_words:"true"`
	PasswordFile string          `split_words:"true"`
	DB           int             `split_words:"true" default:"0"`
	// Cluster talks to a Redis Cluster: the bridge subscribes on every master
	// and follows the topology.
	Cluster bool `split_words:"true" default:"false"`
	// Sentinel lists Redis Sentinel addresses (host:port, comma-separated):
	// the bridge asks them for the master named MasterName and follows it
	// through failovers (Addr is then not used).
	Sentinel   []string `split_words:"true"`
	MasterName string   `split_words:"true"`
	// TLS connects with TLS, the server's host name verified; CAFile is
	// the CA (PEM) to trust instead of the system's; CertFile and KeyFile
	// are a client certificate and its key for mutual TLS, read at every
	// new connection.
	TLS      bool   `split_words:"true" default:"false"`
	CAFile   string `split_words:"true"`
	CertFile string `split_words:"true"`
	KeyFile  string `split_words:"true"`
	// ConfigureNotifications lets the bridge CONFIG SET
	// notify-keyspace-events when the server lacks what it needs.
	ConfigureNotifications bool `split_words:"true" default:"true"`
}

// Where names c's Redis for messages: its address, or its Sentinel master.
func (c RedisConfig) Where() string {
	if len(c.Sentinel) > 0 {
		return fmt.Sprintf("master %s of sentinels %s", c.MasterName, strings.Join(c.Sentinel, ","))
	}
	return c.Addr
}

func (c RedisConfig) password() platform.SecretSource {
	return platform.SecretSource{Name: "JETSYNC_REDIS_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

func (c RedisConfig) tlsConfig() (*tls.Config, error) {
	files := platform.TLSFiles{Var: "JETSYNC_REDIS", CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}
	if !c.TLS {
		if files.Any() {
			return nil, fmt.Errorf("JETSYNC_REDIS_CA_FILE, _CERT_FILE and _KEY_FILE need JETSYNC_REDIS_TLS=true")
		}
		return nil, nil
	}
	return files.Config()
}

// Client is the client of c's Redis: standalone, Sentinel or Cluster, with
// up to pool connections (per node), the password read for every new
// connection; a NOPERM reply becomes a NoPermError naming the user, the
// command and its keys. Validate first.
func (c RedisConfig) Client(pool int, log *slog.Logger) redis.UniversalClient {
	tlsCfg, _ := c.tlsConfig() // Validate checked it
	pw := c.password()
	creds := func() (string, string) {
		p, err := pw.Read()
		if err != nil {
			log.Error("redis password", "err", err)
		}
		return c.Username, p
	}
	hook := noPermHook{user: c.user()}
	switch {
	case len(c.Sentinel) > 0:
		rdb := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: c.MasterName, SentinelAddrs: c.Sentinel,
			DB: c.DB, CredentialsProvider: creds, TLSConfig: tlsCfg, PoolSize: pool,
		})
		rdb.AddHook(hook)
		return rdb
	case c.Cluster:
		rdb := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: strings.Split(c.Addr, ","), CredentialsProvider: creds,
			TLSConfig: tlsCfg, PoolSize: pool,
		})
		rdb.AddHook(hook)
		rdb.OnNewNode(func(n *redis.Client) { n.AddHook(hook) })
		return rdb
	default:
		rdb := redis.NewClient(&redis.Options{
			Addr: c.Addr, DB: c.DB, CredentialsProvider: creds,
			TLSConfig: tlsCfg, PoolSize: pool,
		})
		rdb.AddHook(hook)
		return rdb
	}
}

// Validate reports the first Redis setting a person has to fix.
func (c RedisConfig) Validate() error {
	if err := platform.NoCredentials("JETSYNC_REDIS_ADDR", c.Addr); err != nil {
		return err
	}
	if err := platform.NoCredentials("JETSYNC_REDIS_SENTINEL", strings.Join(c.Sentinel, ",")); err != nil {
		return err
	}
	if len(c.Sentinel) > 0 {
		if c.MasterName == "" {
			return fmt.Errorf("JETSYNC_REDIS_SENTINEL is set but JETSYNC_REDIS_MASTER_NAME is not: name the master the sentinels monitor")
		}
		if c.Cluster {
			return fmt.Errorf("JETSYNC_REDIS_SENTINEL and JETSYNC_REDIS_CLUSTER=true exclude each other")
		}
		for _, a := range c.Sentinel {
			if !strings.Contains(a, ":") {
				return fmt.Errorf("JETSYNC_REDIS_SENTINEL=%q: want host:port, comma-separated", strings.Join(c.Sentinel, ","))
			}
		}
	} else if c.MasterName != "" {
		return fmt.Errorf("JETSYNC_REDIS_MASTER_NAME is set but JETSYNC_REDIS_SENTINEL is not: list the sentinels")
	}
	for _, a := range strings.Split(c.Addr, ",") {
		if !strings.Contains(a, ":") {
			return fmt.Errorf("JETSYNC_REDIS_ADDR=%q: want host:port (a comma-separated list with JETSYNC_REDIS_CLUSTER=true)", c.Addr)
		}
	}
	if !c.Cluster && strings.Contains(c.Addr, ",") {
		return fmt.Errorf("JETSYNC_REDIS_ADDR=%q lists several nodes: set JETSYNC_REDIS_CLUSTER=true for a cluster", c.Addr)
	}
	if c.Cluster && c.DB != 0 {
		return fmt.Errorf("JETSYNC_REDIS_DB=%d: a Redis Cluster has only database 0", c.DB)
	}
	if c.DB < 0 {
		return fmt.Errorf("JETSYNC_REDIS_DB=%d: must not be negative", c.DB)
	}
	if err := c.password().Validate(); err != nil {
		return err
	}
	_, err := c.tlsConfig()
	return err
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if len(c.Prefixes) == 0 {
		return fmt.Errorf("JETSYNC_PREFIXES is empty: name the key prefixes to carry, e.g. person,car")
	}
	seen := map[string]bool{}
	for _, entry := range c.Prefixes {
		p, err := parsePrefix(entry)
		if err != nil {
			return fmt.Errorf("JETSYNC_PREFIXES: %w", err)
		}
		if seen[p.name] {
			return fmt.Errorf("JETSYNC_PREFIXES names %q twice", p.name)
		}
		seen[p.name] = true
	}
	for name, list := range map[string][]string{"JETSYNC_JOURNAL": c.Journal, "JETSYNC_WRITE_THROUGH": c.WriteThrough, "JETSYNC_RGSYNC": c.Rgsync} {
		for _, j := range list {
			if j != "*" && !seen[j] {
				return fmt.Errorf("%s names %q, which is not in JETSYNC_PREFIXES", name, j)
			}
		}
	}
	for name, v := range map[string]string{"JETSYNC_ON_EXPIRED": c.OnExpired, "JETSYNC_ON_EVICTED": c.OnEvicted} {
		if v != "ignore" && v != "delete" {
			return fmt.Errorf("%s=%q: use ignore or delete", name, v)
		}
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("JETSYNC_WORKERS=%d: use 1 to 256", c.Workers)
	}
	if c.Batch < 1 || c.Batch > 10000 {
		return fmt.Errorf("JETSYNC_BATCH=%d: use 1 to 10000", c.Batch)
	}
	if c.HALease && (c.HATTL < time.Second || c.HATTL > 5*time.Minute) {
		return fmt.Errorf("JETSYNC_HA_TTL=%s: use 1s to 5m", c.HATTL)
	}
	if c.BatchBytes < 64<<10 {
		return fmt.Errorf("JETSYNC_BATCH_BYTES=%d: use at least 65536 (64 KiB)", c.BatchBytes)
	}
	if c.PublishTimeout < 100*time.Millisecond || c.PublishTimeout > time.Minute {
		return fmt.Errorf("JETSYNC_PUBLISH_TIMEOUT=%s: use 100ms to 1m (well below the stream's 2m duplicate window)", c.PublishTimeout)
	}
	if c.Heartbeat != 0 && (c.Heartbeat < 100*time.Millisecond || c.Heartbeat > time.Minute) {
		return fmt.Errorf("JETSYNC_HEARTBEAT=%s: use 100ms to 1m, or 0 to turn it off", c.Heartbeat)
	}
	if c.HAGroup != "" && strings.Trim(c.HAGroup, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=") != "" {
		return fmt.Errorf("JETSYNC_HA_GROUP=%q: use letters, digits, '_', '-' and '='", c.HAGroup)
	}
	if err := c.Redis.Validate(); err != nil {
		return err
	}
	if c.Redis.Cluster && (len(c.Journal) > 0 || len(c.WriteThrough) > 0 || len(c.Rgsync) > 0) {
		return fmt.Errorf("JETSYNC_JOURNAL, JETSYNC_WRITE_THROUGH and JETSYNC_RGSYNC need a standalone (or Sentinel) Redis: in a cluster their streams would live in another slot than the key")
	}
	for _, entry := range c.Prefixes {
		if p, err := parsePrefix(entry); err == nil && c.rgsync(p.name) && p.kind != typeHash {
			return fmt.Errorf("JETSYNC_RGSYNC names %q, a %s prefix: rgsync's '#' field needs hashes", p.name, p.kind)
		}
	}
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if err := c.StreamConfig.Validate(); err != nil {
		return err
	}
	if err := c.HTTPConfig.Validate(); err != nil {
		return err
	}
	return c.LogConfig.Validate()
}

// Value types of a prefix's keys.
const (
	typeHash   = "hash"
	typeJSON   = "json"
	typeString = "string"
)

// prefixSpec is one entry of JETSYNC_PREFIXES.
type prefixSpec struct {
	name, kind string
}

// redisType is the TYPE (and SCAN TYPE) of the prefix's keys.
func (p prefixSpec) redisType() string {
	if p.kind == typeHash {
		return "hash"
	}
	return "string"
}

func parsePrefix(entry string) (prefixSpec, error) {
	name, kind, _ := strings.Cut(strings.TrimSpace(entry), ":")
	if kind == "" {
		kind = typeHash
	}
	if err := change.ValidPrefix(name); err != nil {
		return prefixSpec{}, err
	}
	if name == "jetsync" {
		return prefixSpec{}, fmt.Errorf("key prefix \"jetsync\" is jetsync's own (journal streams)")
	}
	switch kind {
	case typeHash, typeJSON, typeString:
	default:
		return prefixSpec{}, fmt.Errorf("prefix %q: value type %q: use hash, json or string", name, kind)
	}
	return prefixSpec{name: name, kind: kind}, nil
}

// specs returns the parsed prefixes (Validate has checked them).
func (c Config) specs() []prefixSpec {
	out := make([]prefixSpec, 0, len(c.Prefixes))
	for _, e := range c.Prefixes {
		p, _ := parsePrefix(e)
		out = append(out, p)
	}
	return out
}

// journaled reports whether prefix is in journal mode.
func (c Config) journaled(prefix string) bool { return listed(c.Journal, prefix) }

// writesThrough reports whether prefix accepts write-through calls.
func (c Config) writesThrough(prefix string) bool { return listed(c.WriteThrough, prefix) }

// rgsync reports whether prefix speaks rgsync's '#' protocol.
func (c Config) rgsync(prefix string) bool { return listed(c.Rgsync, prefix) }

// rgsyncWriteThrough reports whether some prefix takes rgsync's
// write-through form (HSET __{<key>} ...): it must speak rgsync and accept
// write-through calls.
func (c Config) rgsyncWriteThrough() bool {
	for _, entry := range c.Prefixes {
		if p, err := parsePrefix(entry); err == nil && c.rgsync(p.name) && c.writesThrough(p.name) {
			return true
		}
	}
	return false
}

// answers reports whether the bridge completes functions' answers: to
// write-through calls, and to rgsync's acknowledged operations.
func (c Config) answers() bool { return len(c.WriteThrough) > 0 || len(c.Rgsync) > 0 }

func listed(list []string, prefix string) bool {
	for _, j := range list {
		if j == "*" || j == prefix {
			return true
		}
	}
	return false
}
