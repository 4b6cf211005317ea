package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetsync/jetsync/bridge/change"
)

// Repair never writes the table: each confirmed difference becomes a
// change through the normal path. The active bridge of the prefix is asked
// (change.RepairSubject) to publish the key's current state again, or a
// deletion for a row whose key is gone where it would have deleted it, so
// that the function applies it with its guards, in order, and
// dead-letters what it cannot write.

// ErrNoBridge is repair's error when no bridge answers for the prefix.
var ErrNoBridge = errors.New("no bridge answers repair requests")

// RepairSummary is what repair asked for and what the bridge answered.
type RepairSummary struct {
	// DryRun: nothing was asked; the counts are what would be.
	DryRun bool `json:"dry_run"`
	// Republish counts the keys (missing or different rows) asked to be
	// published again; Gone the rows whose key is gone; DeleteGone whether
	// they were asked to be deleted whatever the bridge's expiry setting.
	Republish  int64 `json:"republish"`
	Gone       int64 `json:"gone"`
	DeleteGone bool  `json:"delete_gone"`
	// Bad keys are not repaired: the bridge or the function would
	// dead-letter them again; fix them in Redis.
	Bad int64 `json:"bad"`
	// The bridge's answers: keys queued for publishing, deletions queued,
	// gone rows kept (and why).
	Republished int64  `json:"republished"`
	Deleted     int64  `json:"deleted"`
	Kept        int64  `json:"kept"`
	KeptWhy     string `json:"kept_why,omitempty"`
}

func (s *RepairSummary) lines() []string {
	var out []string
	if s.DryRun {
		out = append(out, fmt.Sprintf("repair (dry run; --yes asks the bridge): would republish %s (missing or different rows)", plural(s.Republish, "key")))
		switch {
		case s.Gone > 0 && s.DeleteGone:
			out = append(out, fmt.Sprintf("  would delete %s whose key is gone", plural(s.Gone, "row")))
		case s.Gone > 0:
			out = append(out, fmt.Sprintf("  would delete %s whose key is gone only if the bridge deletes rows of expired and evicted keys (JETSYNC_ON_EXPIRED=delete, JETSYNC_ON_EVICTED=delete); --delete-gone deletes them anyway", plural(s.Gone, "row")))
		}
	} else {
		out = append(out, fmt.Sprintf("repair: the bridge queued %s to publish again and %s; the function applies them (run verify again once it has caught up)", plural(s.Republished, "key"), plural(s.Deleted, "deletion")))
		if s.Kept > 0 {
			out = append(out, fmt.Sprintf("  kept %s whose key is gone: %s; --delete-gone deletes them", plural(s.Kept, "row"), s.KeptWhy))
		}
	}
	if s.Bad > 0 {
		out = append(out, fmt.Sprintf("  %s not repaired: fix them in Redis (the reasons are above; jetsync dlq list shows their dead letters)", plural(s.Bad, "bad key")))
	}
	return out
}

// repairTimeout bounds the wait for the bridge's answer to one request.
const repairTimeout = 10 * time.Second

// repairBatch is how many keys one request carries.
const repairBatch = 500

// repairer collects confirmed differences and, unless it is a dry run,
// sends them to the bridge a batch at a time.
type repairer struct {
	nc     *nats.Conn
	prefix string
	sum    RepairSummary
	keys   []string
	gone   []string
}

func newRepairer(nc *nats.Conn, prefix string, yes, deleteGone bool) *repairer {
	return &repairer{nc: nc, prefix: prefix, sum: RepairSummary{DryRun: !yes, DeleteGone: deleteGone}}
}

// add takes one confirmed difference.
func (r *repairer) add(ctx context.Context, d Difference) error {
	switch d.Kind {
	case change.Missing, change.Different:
		r.sum.Republish++
		r.keys = append(r.keys, d.Key)
	case change.Gone:
		r.sum.Gone++
		r.gone = append(r.gone, d.Key)
	default:
		r.sum.Bad++
	}
	if len(r.keys)+len(r.gone) >= repairBatch {
		return r.flush(ctx)
	}
	return nil
}

// flush sends what has been collected.
func (r *repairer) flush(ctx context.Context) error {
	keys, gone := r.keys, r.gone
	r.keys, r.gone = nil, nil
	if r.sum.DryRun || len(keys)+len(gone) == 0 {
		return nil
	}
	body, _ := json.Marshal(change.RepairRequest{Keys: keys, Gone: gone, DeleteGone: r.sum.DeleteGone})
	ctx, cancel := context.WithTimeout(ctx, repairTimeout)
	defer cancel()
	subject := change.RepairSubject(r.prefix)
	msg, err := r.nc.RequestWithContext(ctx, subject, body)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w on %s: start a bridge that carries prefix %s (JETSYNC_PREFIXES); repair publishes through it and never writes the table itself (%d keys queued so far)",
			ErrNoBridge, subject, r.prefix, r.sum.Republished+r.sum.Deleted)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer on %s within %s (%d keys queued so far)", ErrNoBridge, subject, repairTimeout, r.sum.Republished+r.sum.Deleted)
	case err != nil:
		return fmt.Errorf("repair request on %s: %w", subject, err)
	}
	var reply change.RepairReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return fmt.Errorf("repair: the bridge's answer on %s: %w", subject, err)
	}
	if reply.Error != "" {
		return fmt.Errorf("repair: the bridge refused: %s", reply.Error)
	}
	r.sum.Republished += int64(reply.Republished)
	r.sum.Deleted += int64(reply.Deleted)
	r.sum.Kept += int64(reply.Kept)
	if reply.KeptWhy != "" {
		r.sum.KeptWhy = reply.KeptWhy
	}
	return nil
}
