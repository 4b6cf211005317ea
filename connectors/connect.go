package connectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

// Connect calls try until it succeeds. While try fails it logs each failure
// and waits with capped backoff (200 ms → 5 s); it returns try's error at
// once when stop says no retry fixes it (bad credentials, an unknown
// database, no privilege), and the last error when ctx ends. Every
// connector's Open runs its first connection through it, so a target that
// is not up yet delays a function instead of failing it.
func Connect(ctx context.Context, log *slog.Logger, try func(context.Context) error, stop func(error) bool) error {
	backoff := platform.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := try(ctx)
		if err == nil || stop(err) || ctx.Err() != nil {
			return err
		}
		log.Warn("database not reachable yet; retrying", "err", err)
		if !backoff.Wait(ctx) {
			return err
		}
	}
}

// IsCertificateError reports a TLS peer the client cannot trust: a
// certificate of another CA or for another host name. No retry fixes the
// configuration, so Open stops at once.
func IsCertificateError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}
