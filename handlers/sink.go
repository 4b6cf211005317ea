package handlers

import (
	"context"
	"errors"
	"fmt"
)

// Sink writes rows to one database. Connectors (connectors/<db>) implement it.
type Sink interface {
	// Write applies ops in order, in one transaction: all or none. Errors that
	// wrap ErrPermanent can never succeed for these ops; any other error is
	// retried.
	Write(ctx context.Context, ops []Op) error
	Close() error
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
