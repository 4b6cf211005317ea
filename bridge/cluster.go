package bridge

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterRefresh is how often the bridge looks at the cluster's topology.
const clusterRefresh = time.Second

// nodes returns the clients to subscribe to and SCAN: the one Redis, or
// every master of the cluster.
func (b *Bridge) nodes(ctx context.Context) ([]*redis.Client, error) { return Masters(ctx, b.rdb) }

// watchCluster keeps one subscription per master of the cluster until ctx
// is done. It reloads the topology every second; a master that appears (a
// node added, a replica promoted by a failover) gets its notifications
// enabled and a subscription, one that disappears loses it, and every change
// of the master set resyncs all prefixes, since keys moved with their slots
// or notifications were lost on a failing node.
func (b *Bridge) watchCluster(ctx context.Context) error {
	cc := b.rdb.(*redis.ClusterClient)
	subs := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, cancel := range subs {
			cancel()
		}
		wg.Wait()
	}()
	first := true
	for {
		cc.ReloadState(ctx)
		nodes, err := b.nodes(ctx)
		if err != nil || len(nodes) == 0 {
			// Listing failed: keep what is subscribed, look again later.
			if ctx.Err() == nil {
				b.log.Warn("cluster: cannot list the masters; keeping the current subscriptions", "masters", len(nodes), "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(clusterRefresh):
			}
			continue
		}
		current := map[string]*redis.Client{}
		for _, n := range nodes {
			current[n.Options().Addr] = n
		}
		changed := false
		for addr, cancel := range subs {
			if _, ok := current[addr]; !ok {
				b.log.Info("cluster: master gone; unsubscribing", "redis", addr)
				cancel()
				delete(subs, addr)
				changed = true
			}
		}
		for addr, node := range current {
			if _, ok := subs[addr]; ok {
				continue
			}
			if err := ensureNotifications(ctx, node, b.cfg, b.log); err != nil {
				// Counted in expected below: not ready until it is carried.
				if _, seen := b.unready.Swap(addr, err.Error()); !seen {
					b.log.Error("cluster: cannot enable notifications on a master; not ready, retrying", "redis", addr, "err", err)
				}
				continue
			}
			b.unready.Delete(addr)
			b.log.Info("cluster: subscribing to master", "redis", addr)
			nctx, cancel := context.WithCancel(ctx)
			subs[addr] = cancel
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = b.subscribeNode(nctx, node)
			}()
			changed = true
		}
		b.unready.Range(func(addr, _ any) bool {
			if _, ok := current[addr.(string)]; !ok {
				b.unready.Delete(addr) // no longer a master
			}
			return true
		})
		// Every master counts, carried or not.
		masters := len(current)
		if b.cfg.hooks.carriedMastersOnly {
			masters = len(subs)
		}
		b.expected.Store(int32(masters * len(b.kinds)))
		if changed && !first {
			for prefix := range b.kinds {
				b.gap(prefix, "cluster topology changed")
			}
		}
		first = false
		if b.cfg.hooks.noTopologyWatch {
			<-ctx.Done()
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(clusterRefresh):
		}
	}
}
