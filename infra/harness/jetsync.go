package harness

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BridgeOptions configure a bridge process.
type BridgeOptions struct {
	NATSURL  string
	Stream   string
	Prefixes string // comma-separated
	HTTPAddr string
	Log      string
	Extra    []string // more KEY=VALUE
}

// NewBridge returns (does not start) a bridge process of bin.
func NewBridge(bin string, o BridgeOptions) *Proc {
	return &Proc{Name: "bridge", Path: bin, Log: o.Log, Env: Env(append([]string{
		"JETSYNC_NATS_URL=" + o.NATSURL,
		"JETSYNC_STREAM=" + o.Stream,
		"JETSYNC_PREFIXES=" + o.Prefixes,
		"JETSYNC_HTTP_ADDR=" + o.HTTPAddr,
		"JETSYNC_LOG_FORMAT=json",
	}, o.Extra...)...)}
}

// FunctionOptions configure a table function process.
type FunctionOptions struct {
	Name      string
	Prefix    string
	Stream    string
	NATSURL   string
	Table     string
	KeyColumn string
	Mappings  string
	Mode      string // upsert or append
	Connector string
	MySQLAddr string
	BatchSize int
	HTTPAddr  string
	Log       string
	Extra     []string
}

// NewFunction returns (does not start) a table function process of bin.
func NewFunction(bin string, o FunctionOptions) *Proc {
	if o.Mode == "" {
		o.Mode = "upsert"
	}
	if o.Connector == "" {
		o.Connector = "mysql"
	}
	if o.BatchSize == 0 {
		o.BatchSize = 500
	}
	return &Proc{Name: o.Name, Path: bin, Log: o.Log, Env: Env(append([]string{
		"JETSYNC_FUNCTION_NAME=" + o.Name,
		"JETSYNC_FUNCTION_VERSION=1",
		"JETSYNC_PREFIX=" + o.Prefix,
		"JETSYNC_STREAM=" + o.Stream,
		"JETSYNC_NATS_URL=" + o.NATSURL,
		"JETSYNC_TABLE=" + o.Table,
		"JETSYNC_KEY_COLUMN=" + o.KeyColumn,
		"JETSYNC_MAPPINGS=" + o.Mappings,
		"JETSYNC_MODE=" + o.Mode,
		"JETSYNC_CONNECTOR=" + o.Connector,
		"JETSYNC_MYSQL_ADDR=" + o.MySQLAddr,
		"JETSYNC_BATCH_SIZE=" + strconv.Itoa(o.BatchSize),
		"JETSYNC_HTTP_ADDR=" + o.HTTPAddr,
		"JETSYNC_LOG_FORMAT=json",
	}, o.Extra...)...)}
}

// WaitBridge waits until the bridge at addr is ready and active: with HA
// leases a restarted bridge stands by (and its /readyz answers 200) until
// the lease of the one it replaces expires; jetsync_bridge_active says
// when it carries changes again. A bridge without that metric counts as
// active when ready.
func WaitBridge(ctx context.Context, p *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if err := WaitReady(ctx, p, addr, timeout); err != nil {
		return err
	}
	for {
		v, ok := Metric("http://"+addr+"/metrics", "jetsync_bridge_active")
		if !ok || v == 1 {
			if Ready("http://" + addr + "/readyz") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not active after %s (see %s)", p.Name, timeout, p.Log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Exited():
			return fmt.Errorf("%s exited (see %s)", p.Name, p.Log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitReady polls http://addr/readyz until it answers 200, the process
// exits, or timeout passes.
func WaitReady(ctx context.Context, p *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !Ready("http://" + addr + "/readyz") {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (see %s)", p.Name, timeout, p.Log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Exited():
			return fmt.Errorf("%s exited (see %s)", p.Name, p.Log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Idle reports whether the consumer has nothing pending and nothing unacked.
func Idle(ctx context.Context, js jetstream.JetStream, stream, consumer string) (bool, error) {
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return false, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, err
	}
	return info.NumPending == 0 && info.NumAckPending == 0, nil
}

// StreamMsgs is how many messages the stream holds.
func StreamMsgs(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
