package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
)

// Write-through: an application stages a write with FCALL
// jetsync_write_through (journal.lua); the staged write waits in
// jetsync:wt:pending:<token> and its token in the prefix's stream
// jetsync:wt:<prefix>. The bridge reads the stream, keeps the staged write in
// memory and merges it into every change of its key it publishes until the
// write is answered, and publishes the first such change with the header
// change.HeaderReply. The function answers on jetsync-reply.<token> once its
// transaction committed (or the change was dead-lettered); the bridge then
// calls jetsync_wt_commit, which writes the staged change into the key and
// answers the caller on jetsync:reply:<token>, atomically.

// StagedStream is the Redis stream of prefix's staged write-through calls.
func StagedStream(prefix string) string { return "jetsync:wt:" + prefix }

type stagedWrite struct {
	token, op string
	fields    []string // field, value, field, value ...
	sent      bool     // published with a change
	// answer is the function's answer, held until every earlier staged
	// write of the key is completed, so that jetsync_wt_commit writes the
	// key in call order.
	answer *heldAnswer
}

// heldAnswer is a function's answer to a staged write and the messages
// that carried it (acknowledged once the write is completed).
type heldAnswer struct {
	status, reason string
	msgs           []jetstream.Msg
}

// staging holds the staged writes of each key, oldest first, until answered.
type staging struct {
	mu    sync.Mutex
	byKey map[string][]*stagedWrite
}

func (s *staging) add(key string, w *stagedWrite) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey == nil {
		s.byKey = map[string][]*stagedWrite{}
	}
	for _, old := range s.byKey[key] {
		if old.token == w.token {
			return // read again after a restart
		}
	}
	s.byKey[key] = append(s.byKey[key], w)
}

// apply merges key's staged writes into fields (nil: the key is gone) and
// returns the result, whether a staged delete applies, and the tokens not
// yet published, which it marks as published.
func (s *staging) apply(key string, fields map[string]string) (map[string]string, bool, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	deleted := false
	var tokens []string
	for _, w := range s.byKey[key] {
		if w.op == "del" {
			fields, deleted = nil, true
		} else {
			if fields == nil {
				fields = map[string]string{}
			}
			for i := 0; i+1 < len(w.fields); i += 2 {
				fields[w.fields[i]] = w.fields[i+1]
			}
			deleted = false
		}
		if !w.sent {
			w.sent = true
			tokens = append(tokens, w.token)
		}
	}
	return fields, deleted, tokens
}

// answer records the function's answer to token (carried by m) and returns
// the staged writes whose turn to be completed has come: those of token's
// key, from the oldest, as long as each has its answer. The answer to a
// token staging does not hold (read before a restart, or completed already)
// is returned alone.
func (s *staging) answer(token, status, reason string, m jetstream.Msg) []*stagedWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ws := range s.byKey {
		for _, w := range ws {
			if w.token != token {
				continue
			}
			if w.answer == nil {
				w.answer = &heldAnswer{status: status, reason: reason}
			}
			w.answer.msgs = append(w.answer.msgs, m)
			var ready []*stagedWrite
			for _, w := range ws {
				if w.answer == nil {
					break
				}
				ready = append(ready, w)
			}
			return ready
		}
	}
	return []*stagedWrite{{token: token, answer: &heldAnswer{status: status, reason: reason, msgs: []jetstream.Msg{m}}}}
}

// keyOf returns the key of token's staged write, if staging holds it.
func (s *staging) keyOf(token string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, ws := range s.byKey {
		for _, w := range ws {
			if w.token == token {
				return key, true
			}
		}
	}
	return "", false
}

// answered forgets the staged write of token.
func (s *staging) answered(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, ws := range s.byKey {
		for i, w := range ws {
			if w.token == token {
				ws = append(ws[:i], ws[i+1:]...)
				if len(ws) == 0 {
					delete(s.byKey, key)
				} else {
					s.byKey[key] = ws
				}
				return
			}
		}
	}
}

// stagedLoop reads prefix's staged write-through calls and marks their keys
// dirty; each entry is acknowledged once the change carrying it is stored.
func (b *Bridge) stagedLoop(ctx context.Context, prefix string) {
	stream := StagedStream(prefix)
	b.readGroup(ctx, stream, 0, func(e redis.XMessage) {
		ack := &journalEntry{stream: stream, id: e.ID}
		token, _ := e.Values["token"].(string)
		w, err := b.rdb.HGetAll(ctx, "jetsync:wt:pending:"+token).Result()
		if err != nil || w["key"] == "" {
			// Answered already (or expired): nothing left to do.
			b.ackJournal(ctx, []outgoing{{acks: []journalEntry{*ack}}}, nil)
			return
		}
		staged := &stagedWrite{token: token, op: w["op"]}
		if err := json.Unmarshal([]byte(w["fields"]), &staged.fields); err != nil {
			staged.fields = nil // "{}" from an empty Lua table
		}
		b.wt.add(w["key"], staged)
		b.shards.Load().queue(w["key"]).mark(w["key"], staged.op == "del", true, ack)
	})
}

// answerer returns the prefix that function consumes (from its consumer's
// filter, cached): the only prefix whose calls it may answer. A function
// without a consumer gets "": it may answer none. Under the test hook
// noAnswerCheck every function may answer every call ("").
func (b *Bridge) answerer(ctx context.Context, function string) (string, error) {
	if b.cfg.hooks.noAnswerCheck {
		return "", nil
	}
	if p, ok := b.answerers[function]; ok {
		return p, nil
	}
	cons, err := b.js.Consumer(ctx, b.cfg.StreamConfig.Name, function)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	f := cons.CachedInfo().Config.FilterSubject
	prefix, ok := strings.CutSuffix(strings.TrimPrefix(f, change.Root+"."), ".>")
	if !ok || change.Filter(prefix) != f {
		prefix = ""
	}
	if b.answerers == nil {
		b.answerers = map[string]string{}
	}
	b.answerers[function] = prefix
	return prefix, nil
}

// replyLoop consumes the functions' answers and completes each staged write:
// jetsync_wt_commit writes it into the key (when committed) and answers the
// caller, in one atomic call.
func (b *Bridge) replyLoop(ctx context.Context) {
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	var cons jetstream.Consumer
	for ctx.Err() == nil && cons == nil {
		var err error
		cons, err = b.js.CreateOrUpdateConsumer(ctx, streams.ReplyStream(b.cfg.StreamConfig.Name), jetstream.ConsumerConfig{
			Durable: "bridge", FilterSubject: streams.ReplyRoot + ".>", AckPolicy: jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckWait: 30 * time.Second,
		})
		if err != nil && ctx.Err() == nil {
			b.log.Warn("write-through: cannot consume answers yet; retrying", "err", err)
			backoff.Wait(ctx)
		}
	}
	for ctx.Err() == nil {
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err := cons.Fetch(100, jetstream.FetchContext(wait))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				b.log.Warn("write-through: fetching answers failed", "err", err)
				backoff.Wait(ctx)
			}
			continue
		}
		for m := range batch.Messages() {
			function, token, _ := strings.Cut(strings.TrimPrefix(m.Subject(), streams.ReplyRoot+"."), ".")
			var answer struct{ Status, Error string }
			if token == "" || json.Unmarshal(m.Data(), &answer) != nil || (answer.Status != "done" && answer.Status != "failed") {
				b.log.Error("write-through: malformed answer (or a function older than the bridge, without its name in the subject); dropping it", "subject", m.Subject())
				_ = m.Ack()
				continue
			}
			prefix, err := b.answerer(ctx, function)
			if err != nil {
				b.log.Warn("write-through: cannot look up the answering function yet", "function", function, "err", err)
				_ = m.NakWithDelay(time.Second)
				continue
			}
			if key, ok := b.wt.keyOf(token); !b.cfg.hooks.noAnswerCheck && (prefix == "" || ok && b.prefixOf(key) != prefix) {
				b.log.Error("write-through: an answer from a function that does not consume the call's prefix; ignoring it", "function", function, "key", key)
				delete(b.answerers, function) // looked up again next time
				_ = m.Ack()
				continue
			}
			// Calls on one key complete in call order: an answer waits
			// (its message unacknowledged) for the earlier calls' answers.
			ready := b.wt.answer(token, answer.Status, answer.Error, m)
			if b.cfg.hooks.noCallOrder {
				ready = []*stagedWrite{{token: token, answer: &heldAnswer{status: answer.Status, reason: answer.Error, msgs: []jetstream.Msg{m}}}}
			}
			for _, w := range ready {
				complete := "jetsync_wt_commit"
				if strings.HasPrefix(w.token, rgsyncTokenPrefix) {
					complete = "jetsync_rgsync_ack"
				}
				res, err := b.rdb.FCall(ctx, complete, nil, w.token, w.answer.status, w.answer.reason, prefix).Text()
				if err == nil && res == "NOTYOURS" {
					b.log.Error("write-through: an answer from a function that does not consume the call's prefix; ignoring it", "function", function, "token", w.token)
					for _, m := range w.answer.msgs {
						_ = m.Ack()
					}
					continue
				}
				if err != nil {
					b.log.Warn("write-through: cannot complete a write yet", "token", w.token, "err", err)
					for _, m := range w.answer.msgs {
						_ = m.NakWithDelay(time.Second)
					}
					w.answer.msgs = nil
					break
				}
				b.wt.answered(w.token)
				for _, m := range w.answer.msgs {
					_ = m.Ack()
				}
			}
		}
		cancel()
	}
}
