package streams

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
)

// VerifyBucket is the NATS KV bucket that keeps each function's last
// verify result (change.VerifyResult), under VerifyKey: `jetsync-table
// verify` writes it, the running function exports it as metrics.
const VerifyBucket = "jetsync_verify"

// VerifyKey is function's key in VerifyBucket: the name itself when it is
// a KV-safe token ([A-Za-z0-9_-]), else '=' and its unpadded base64url.
func VerifyKey(function string) string {
	for _, r := range function {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return "=" + base64.RawURLEncoding.EncodeToString([]byte(function))
		}
	}
	return function
}

// SaveVerifyResult stores r as its function's last verify result,
// creating VerifyBucket (with the change stream's replicas) when needed.
func SaveVerifyResult(ctx context.Context, js jetstream.JetStream, replicas int, r change.VerifyResult) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      VerifyBucket,
		Description: "jetsync: each function's last verify of its table against Redis",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("open or create KV bucket %s: %w", VerifyBucket, err)
	}
	if _, err := kv.Put(ctx, VerifyKey(r.Function), body); err != nil {
		return fmt.Errorf("store the verify result of %s in %s: %w", r.Function, VerifyBucket, err)
	}
	return nil
}

// ErrNotVerified is LoadVerifyResult's error when the function has no
// stored result yet.
var ErrNotVerified = errors.New("never verified")

// VerifyResults opens VerifyBucket, or returns ErrNotVerified when no
// verify has created it yet.
func VerifyResults(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, VerifyBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, ErrNotVerified
	}
	return kv, err
}

// LoadVerifyResult returns function's last verify result from kv
// (VerifyResults), or ErrNotVerified.
func LoadVerifyResult(ctx context.Context, kv jetstream.KeyValue, function string) (change.VerifyResult, error) {
	var r change.VerifyResult
	e, err := kv.Get(ctx, VerifyKey(function))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return r, ErrNotVerified
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return r, fmt.Errorf("verify result of %s in %s: %w", function, VerifyBucket, err)
	}
	return r, nil
}
