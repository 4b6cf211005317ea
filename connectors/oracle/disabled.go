//go:build !oracle

package oracle

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jetsync/jetsync/handlers"
)

// Available reports whether this build has the Oracle driver.
const Available = false

// ErrNotBuilt is Open's error in a build without the oracle tag.
var ErrNotBuilt = errors.New("this build has no Oracle connector: build with CGO_ENABLED=1 go build -tags oracle (needs Oracle Instant Client at run time)")

// Sink is the Oracle sink; in this build it cannot be opened.
type Sink struct{}

var _ handlers.Sink = (*Sink)(nil)

// Open fails with ErrNotBuilt.
func Open(context.Context, Config, *slog.Logger) (*Sink, error) { return nil, ErrNotBuilt }

// Write fails with ErrNotBuilt.
func (*Sink) Write(context.Context, handlers.Write) error { return ErrNotBuilt }

// Close does nothing.
func (*Sink) Close() error { return nil }

// CheckTable fails with ErrNotBuilt.
func (*Sink) CheckTable(context.Context, string, []string, []string) error { return ErrNotBuilt }
