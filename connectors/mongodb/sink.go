package mongodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

// The fields jetsync keeps in every document it writes.
const (
	// SeqField is the stream sequence of the document's last change.
	SeqField = "_jetsync_seq"
	// DeletedField marks a tombstone: a deleted row, kept (with only _id
	// and SeqField) so that an older change cannot bring it back; it holds
	// the time of the delete, for the TTL index.
	DeletedField = "_jetsync_deleted"
)

// Sink writes rows into MongoDB collections (see the package doc).
type Sink struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	client *mongo.Client
	uri    string
	// indexed holds the collections whose tombstone index exists.
	indexed map[string]bool

	// Test hooks (export_test.go): pause before each round of bulk writes, and
	// unguarded: write without the sequence condition.
	pause     time.Duration
	unguarded bool
}

// Open connects, waiting while the server is unreachable (it stops at
// once on bad credentials or a URI that does not parse).
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, log: log, indexed: map[string]bool{}}
	err := connectors.Connect(ctx, log, func(ctx context.Context) error {
		_, err := s.connect(ctx, "")
		return err
	}, refused)
	if err != nil {
		return nil, fmt.Errorf("MongoDB: %w", err)
	}
	return s, nil
}

// Opener returns a handlers.Opener that opens a Sink with cfg, for
// handlers.Serve.
func Opener(cfg Config) handlers.Opener {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) { return Open(ctx, cfg, log) }
}

// connect returns the client, first connecting (again) when there is none
// or when the URI (its file) has changed since the client was made from
// it; a client whose URI is unchanged is kept. With was set, the client it
// names failed for its connection and is replaced only if the URI moved.
func (s *Sink) connect(ctx context.Context, was string) (*mongo.Client, error) {
	uri, err := s.cfg.uri().Read()
	if err != nil {
		return nil, handlers.Permanent(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil && (uri == s.uri || was != s.uri) {
		return s.client, nil
	}
	opts := options.Client().ApplyURI(uri).SetConnectTimeout(s.cfg.Timeout).SetServerSelectionTimeout(s.cfg.Timeout)
	c, err := mongo.Connect(opts)
	if err != nil {
		return nil, errors.New(platform.Redact(err.Error()))
	}
	if err := c.Ping(ctx, nil); err != nil {
		c.Disconnect(context.Background())
		return nil, fmt.Errorf("at %s: %s", strings.Join(opts.Hosts, ","), platform.Redact(err.Error()))
	}
	if s.client != nil {
		s.log.Info("MongoDB URI changed: connected again")
		old := s.client
		go old.Disconnect(context.Background())
	}
	s.client, s.uri = c, uri
	return c, nil
}

// refused reports whether no retry fixes a connection error: bad
// credentials, a missing privilege or a URI the driver cannot use.
func refused(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorCode(18) || se.HasErrorCode(13)) { // AuthenticationFailed, Unauthorized
		return true
	}
	return handlers.IsPermanent(err) || strings.Contains(err.Error(), "auth error")
}

// Write applies w: one unordered bulk write per collection (see the package
// doc for what is atomic and what is not).
func (s *Sink) Write(ctx context.Context, w handlers.Write) error {
	c, err := s.connect(ctx, "")
	if err != nil {
		return err
	}
	p := plan(w, s.cfg.KeyFields, time.Now())
	res := result{}
	for _, table := range p.tables {
		coll := c.Database(s.cfg.Database).Collection(table)
		if err := s.ensureIndex(ctx, coll); err != nil {
			return s.classify(err)
		}
		if err := s.apply(ctx, coll, p.docs[table], &res); err != nil {
			return s.classify(err)
		}
	}
	if res.permanent != nil {
		return handlers.Permanent(res.permanent)
	}
	if len(res.stale) == 0 {
		return nil
	}
	se := &handlers.StaleError{Applied: true}
	seen := map[int]bool{}
	for _, d := range res.stale {
		for _, i := range d.changes {
			if !seen[i] {
				seen[i] = true
				se.Stale = append(se.Stale, w.Changes[i])
			}
		}
	}
	return se
}

// result gathers what a write's bulk writes found.
type result struct {
	stale     []*doc
	permanent error
}

// maxRounds bounds how often one op is sent again after a duplicate key
// that its sequence does not explain (a concurrent insert of the same new
// row by another instance): past it, a unique index refuses the row.
const maxRounds = 4

// apply writes docs to coll: an unordered bulk write, then, for the ops it
// refused, a look at why. An op refused with a duplicate key is stale when
// its document holds a newer (or the same) sequence, and sent again
// otherwise; an op that did not run (see bulk) is sent again too, and
// when it may have run, a duplicate key with its own sequence means it
// did.
func (s *Sink) apply(ctx context.Context, coll *mongo.Collection, docs []*doc, res *result) error {
	for round := 1; len(docs) > 0; round++ {
		time.Sleep(s.pause)
		failed, notRun, err := s.bulk(ctx, coll, docs)
		if err != nil {
			return err
		}
		var again []*doc
		var dup []int
		for i, d := range docs {
			we, ok := failed[i]
			maybe, skipped := notRun[i]
			switch {
			case !ok && skipped:
				d.maybeRan = maybe
				again = append(again, d)
			case !ok:
			case we.HasErrorCode(11000) || we.HasErrorCode(11001):
				dup = append(dup, i)
			case permanentCode(we.Code):
				res.permanent = errors.Join(res.permanent, fmt.Errorf("collection %s, row %v: %s (code %d)", coll.Name(), d.id, we.Message, we.Code))
			default:
				return fmt.Errorf("collection %s, row %v: %w", coll.Name(), d.id, we)
			}
		}
		if len(dup) > 0 {
			seqs, err := storedSeqs(ctx, coll, docs, dup)
			if err != nil {
				return err
			}
			for _, i := range dup {
				d := docs[i]
				switch stored, ok := seqs[i]; {
				case ok && stored == d.seq && d.maybeRan:
					// It ran in an earlier round.
				case ok && stored >= d.seq:
					res.stale = append(res.stale, d)
				case round >= maxRounds:
					res.permanent = errors.Join(res.permanent, fmt.Errorf("collection %s, row %v: duplicate key on a unique index: %s", coll.Name(), d.id, failed[i].Message))
				default:
					again = append(again, d)
				}
			}
		}
		docs = again
	}
	return nil
}

// bulk sends docs as unordered bulk writes of at most Config.BulkSize
// operations each and returns the ops the server refused and those it did
// not run, both by index into docs. MongoDB runs every op of an unordered
// bulk write; FerretDB stops at the first error as if it were ordered. The
// command's counts tell which: when fewer ops ran than did not fail, those
// after the first error did not run (false); when the counts are missing,
// they may have run (true).
func (s *Sink) bulk(ctx context.Context, coll *mongo.Collection, docs []*doc) (map[int]mongo.BulkWriteError, map[int]bool, error) {
	failed, notRun := map[int]mongo.BulkWriteError{}, map[int]bool{}
	for start := 0; start < len(docs); start += s.cfg.BulkSize {
		part := docs[start:min(start+s.cfg.BulkSize, len(docs))]
		models := make([]mongo.WriteModel, len(part))
		for i, d := range part {
			models[i] = d.model(!s.unguarded)
		}
		res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if err == nil {
			continue
		}
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 {
			return nil, nil, err
		}
		first := len(part)
		for _, we := range bwe.WriteErrors {
			failed[start+we.Index] = we
			first = min(first, we.Index)
		}
		maybe := res == nil
		if !maybe && int(res.MatchedCount+res.UpsertedCount) >= len(part)-len(bwe.WriteErrors) {
			continue // all the others ran
		}
		for i := first + 1; i < len(part); i++ {
			if _, ok := failed[start+i]; !ok {
				notRun[start+i] = maybe
			}
		}
	}
	return failed, notRun, nil
}

// storedSeqs reads the sequence of the documents of docs[i] for each i of
// which; a document that does not exist, or holds no sequence, is left
// out.
func storedSeqs(ctx context.Context, coll *mongo.Collection, docs []*doc, which []int) (map[int]uint64, error) {
	ids := make(bson.A, len(which))
	for j, i := range which {
		ids[j] = docs[i].id
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: SeqField, Value: 1}}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	byID := map[string]uint64{}
	for cur.Next(ctx) {
		id := cur.Current.Lookup("_id")
		seq, ok := cur.Current.Lookup(SeqField).AsInt64OK()
		if ok {
			byID[string(id.Type)+string(id.Value)] = uint64(seq)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	out := map[int]uint64{}
	for _, i := range which {
		t, v, err := bson.MarshalValue(docs[i].id)
		if err != nil {
			return nil, handlers.Permanent(err)
		}
		if seq, ok := byID[string(t)+string(v)]; ok {
			out[i] = seq
		}
	}
	return out, nil
}

// permanentCode reports whether a write error with code is one that no
// retry fixes: the value, the document or its name is refused.
func permanentCode(code int) bool {
	switch code {
	case 2, // BadValue: e.g. a field name starting with '$' (FerretDB)
		14,    // TypeMismatch
		52,    // DollarPrefixedFieldName
		56,    // EmptyFieldName
		57,    // DottedFieldName
		121,   // DocumentValidationFailure
		10334, // BSONObjectTooLarge
		17419, // document too large after an update
		17420: // document too large after an update (older servers)
		return true
	}
	return false
}

// classify marks errors no retry can fix as permanent; everything else
// (network, timeouts, not primary, write concern, an unknown server error)
// stays transient. An error of the connection makes the next write read
// the URI (its file) again.
func (s *Sink) classify(err error) error {
	switch {
	case handlers.IsPermanent(err), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, driver.ErrDocumentTooLarge):
		return handlers.Permanent(fmt.Errorf("MongoDB: %w (the server's limit is 16 MiB)", err))
	case mongo.IsNetworkError(err), mongo.IsTimeout(err), refused(err):
		s.mu.Lock()
		uri := s.uri
		s.mu.Unlock()
		if _, cerr := s.connect(context.Background(), uri); cerr != nil {
			s.log.Warn("MongoDB: cannot connect again", "err", cerr)
		}
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) && permanentCode(int(ce.Code)) {
		return handlers.Permanent(fmt.Errorf("MongoDB: %w", err))
	}
	return fmt.Errorf("MongoDB: %w", err)
}

// ensureIndex creates the TTL index that removes tombstones after
// Config.TombstoneTTL, once per collection and sink. A server without TTL
// indexes (FerretDB 1.x) keeps the tombstones: logged once.
func (s *Sink) ensureIndex(ctx context.Context, coll *mongo.Collection) error {
	s.mu.Lock()
	done := s.indexed[coll.Name()]
	s.indexed[coll.Name()] = true
	s.mu.Unlock()
	if done || s.cfg.TombstoneTTL == 0 {
		return nil
	}
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: DeletedField, Value: 1}},
		Options: options.Index().SetName("jetsync_tombstones").SetExpireAfterSeconds(int32(s.cfg.TombstoneTTL / time.Second)),
	})
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.HasErrorCode(238) || ce.HasErrorCode(115)) { // NotImplemented, CommandNotSupported
		s.log.Warn("MongoDB: the server has no TTL indexes: tombstones of deleted rows are kept", "collection", coll.Name(), "err", ce.Message)
		return nil
	}
	if err != nil {
		s.mu.Lock()
		delete(s.indexed, coll.Name())
		s.mu.Unlock()
	}
	return err
}

// Truncate deletes every document of table, tombstones included, for
// `jetsync replay --truncate`.
func (s *Sink) Truncate(ctx context.Context, table string) error {
	c, err := s.connect(ctx, "")
	if err != nil {
		return err
	}
	_, err = c.Database(s.cfg.Database).Collection(table).DeleteMany(ctx, bson.D{})
	return err
}

// CheckTable has nothing to check: a collection has no schema, and one that
// does not exist is created by the first write.
func (s *Sink) CheckTable(context.Context, string, []string, []string) error { return nil }

// Close disconnects.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	return s.client.Disconnect(context.Background())
}
