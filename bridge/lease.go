package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseBucket is the NATS KV bucket that holds the bridges' leases.
const LeaseBucket = "jetsync_bridge_leases"

// lease is this bridge's claim to be the active one for its Redis: a key in
// LeaseBucket whose value names the holder. The bucket's TTL makes a lease
// that is not renewed disappear, so a standby takes over within about one
// TTL of the active bridge dying.
type lease struct {
	b   *Bridge
	kv  jetstream.KeyValue
	key string
	id  string
	rev uint64
	// ttl is the bucket's TTL, which every bridge of the bucket shares.
	ttl time.Duration
}

// newLease opens LeaseBucket, creating it with JETSYNC_HA_TTL and
// JETSYNC_STREAM_REPLICAS when it does not exist. An existing bucket keeps
// its TTL, which other bridges' leases depend on: a bridge configured with
// another TTL says so and follows the bucket's. Its replicas are raised to
// JETSYNC_STREAM_REPLICAS.
func (b *Bridge) newLease(ctx context.Context) (*lease, error) {
	want := jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "jetsync bridge leases: which bridge is active for which Redis",
		TTL:         b.cfg.HATTL,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
	}
	kv, err := b.js.KeyValue(ctx, LeaseBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = b.js.CreateKeyValue(ctx, want)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = b.js.KeyValue(ctx, LeaseBucket)
		}
	}
	var st jetstream.KeyValueStatus
	if err == nil {
		st, err = kv.Status(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("open or create KV bucket %s for HA leases: %w", LeaseBucket, err)
	}
	have := st.Config()
	if have.TTL != b.cfg.HATTL {
		b.log.Warn("the lease bucket's TTL differs from JETSYNC_HA_TTL; following the bucket's, which every bridge shares",
			"bucket", LeaseBucket, "ttl", have.TTL, "JETSYNC_HA_TTL", b.cfg.HATTL)
	}
	if have.Replicas < b.cfg.Replicas {
		have.Replicas = b.cfg.Replicas
		if kv, err = b.js.UpdateKeyValue(ctx, have); err != nil {
			return nil, fmt.Errorf("raise KV bucket %s to %d replicas: %w", LeaseBucket, b.cfg.Replicas, err)
		}
	}
	if have.TTL < time.Second {
		return nil, fmt.Errorf("KV bucket %s has TTL %s; leases need at least 1s: delete the bucket or set its TTL", LeaseBucket, have.TTL)
	}
	host, _ := os.Hostname()
	return &lease{b: b, kv: kv, key: b.cfg.leaseKey(), id: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), b.runID), ttl: have.TTL}, nil
}

// MemberPrefix starts the keys under which the bridges of LeaseBucket
// announce themselves (bridge.<run>), renewed with the leases so that a
// bridge that dies disappears within the TTL: `jetsync status` lists the
// standbys, the mode and the gaps from them.
const MemberPrefix = "bridge."

// Member is what a bridge announces about itself.
type Member struct {
	ID       string   `json:"id"`
	Lease    string   `json:"lease"`
	Active   bool     `json:"active"`
	Prefixes []string `json:"prefixes"`
	Journal  []string `json:"journal,omitempty"`
	Gaps     float64  `json:"gaps"`
}

// announce puts this bridge's Member into the bucket every TTL/3 until ctx
// ends, then deletes it.
func (l *lease) announce(ctx context.Context) {
	key := MemberPrefix + l.b.runID
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = l.kv.Delete(dctx, key)
	}()
	for {
		m := Member{ID: l.id, Lease: l.key, Active: l.b.active.Load(), Prefixes: l.b.cfg.Prefixes, Journal: l.b.cfg.Journal, Gaps: l.b.m.gapCount()}
		if body, err := json.Marshal(m); err == nil {
			pctx, cancel := context.WithTimeout(ctx, l.ttl/3)
			_, _ = l.kv.Put(pctx, key, body)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(l.ttl / 3):
		}
	}
}

// leaseKey names the lease: one per Redis (address, or Sentinel master
// name, and database) unless JETSYNC_HA_GROUP names it.
func (c Config) leaseKey() string {
	if c.HAGroup != "" {
		return c.HAGroup
	}
	r := strings.NewReplacer(":", "_", ".", "_", "[", "_", "]", "_", "/", "_")
	if len(c.Redis.Sentinel) > 0 {
		return fmt.Sprintf("redis_sentinel_%s_db%d", r.Replace(c.Redis.MasterName), c.Redis.DB)
	}
	return fmt.Sprintf("redis_%s_db%d", r.Replace(c.Redis.Addr), c.Redis.DB)
}

// acquire waits until it holds the lease or ctx ends; it reports whether it
// holds it.
func (l *lease) acquire(ctx context.Context) bool {
	announced := false
	for {
		rev, err := l.kv.Create(ctx, l.key, []byte(l.id))
		if err == nil {
			l.rev = rev
			l.b.log.Info("holding the lease; active", "lease", l.key, "holder", l.id)
			return true
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			l.b.log.Warn("lease: cannot take it yet", "lease", l.key, "err", err)
		} else if !announced {
			holder := "another bridge"
			if e, err := l.kv.Get(ctx, l.key); err == nil {
				holder = string(e.Value())
			}
			l.b.log.Info("standing by: another bridge holds the lease", "lease", l.key, "holder", holder)
			announced = true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(l.ttl / 5):
		}
	}
}

// hold renews the lease every TTL/3 until ctx ends (false) or the lease is
// lost (true): renewal refused, or not renewed within the TTL.
func (l *lease) hold(ctx context.Context) bool {
	every := l.ttl / 3
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(every):
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		rev, err := l.kv.Update(rctx, l.key, []byte(l.id), l.rev)
		cancel()
		switch {
		case err == nil:
			l.rev, renewed = rev, time.Now()
		case ctx.Err() != nil:
			return false
		case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) || strings.Contains(err.Error(), "wrong last sequence"):
			// An update whose reply was lost (NATS restarting) did land: the
			// lease is still ours at a newer revision.
			if e, gerr := l.kv.Get(ctx, l.key); gerr == nil && string(e.Value()) == l.id {
				l.rev, renewed = e.Revision(), time.Now()
				continue
			}
			l.b.log.Warn("lease taken over by another bridge", "lease", l.key, "err", err)
			return true
		case time.Since(renewed) > l.ttl:
			l.b.log.Warn("lease not renewed within its TTL; stepping down", "lease", l.key, "err", err)
			return true
		default:
			l.b.log.Warn("lease renewal failed; retrying", "lease", l.key, "err", err)
		}
	}
}

// release gives the lease up so that a standby takes over at once.
func (l *lease) release() {
	if l.rev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
		l.b.log.Warn("lease: release failed; it expires by itself", "lease", l.key, "err", err)
	}
}
