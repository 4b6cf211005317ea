package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sink writes rows to one database. Connectors (connectors/<db>) implement it.
type Sink interface {
	// Write applies w in one transaction: all or none. Errors that wrap
	// ErrPermanent can never succeed for these ops; a *StaleError names
	// changes that were applied already; any other error is retried.
	Write(ctx context.Context, w Write) error
	Close() error
}

// Write is one transaction's worth of work.
type Write struct {
	// Function names the function whose changes these are.
	Function string
	// Changes are the key and stream sequence of every change the ops come
	// from. A sink that guards sequences (the SQL connectors) checks, in the
	// same transaction, that each change is newer than the last change of
	// its key the function applied; if any is not, it writes nothing and
	// returns a *StaleError naming them. Then it records the new sequences
	// and the function's checkpoint (the highest sequence applied) with the
	// ops. That makes redelivery, replay and parallel instances harmless:
	// nothing is applied twice and nothing older overwrites something newer.
	Changes []KeySeq
	// Ops are the rows to write, in order.
	Ops []Op
}

// KeySeq is a Redis key and the stream sequence of one of its changes.
type KeySeq struct {
	Key string
	Seq uint64
}

// StaleError says that some changes of a write are not newer than what the
// function already applied for their keys; the sink wrote nothing, unless
// Applied.
type StaleError struct {
	Stale []KeySeq
	// Applied: the sink has no transactions and guards each row on its
	// own (MongoDB): it wrote every other change of the write, and the
	// write is done.
	Applied bool
}

func (e *StaleError) Error() string {
	parts := make([]string, 0, len(e.Stale))
	for _, ks := range e.Stale {
		parts = append(parts, fmt.Sprintf("%s@%d", ks.Key, ks.Seq))
	}
	sort.Strings(parts)
	if len(parts) > 5 {
		parts = append(parts[:5], fmt.Sprintf("and %d more", len(parts)-5))
	}
	return "already applied or superseded: " + strings.Join(parts, ", ")
}

// ErrPermanent marks an error that retrying cannot fix: the change goes to
// the dead-letter stream.
var ErrPermanent = errors.New("permanent")

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// IsPermanent reports whether err was marked permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
