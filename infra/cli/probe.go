package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probe GETs a health endpoint and fails unless it answers 200. The images
// have no shell or curl, so container health checks run `jetsync probe`.
func probe(ctx context.Context, args []string, out io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: probe takes one URL, e.g. http://127.0.0.1:8080/readyz", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return fmt.Errorf("%w: probe %q: %v", errUsage, args[0], err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %s: %s", args[0], resp.Status, body)
	}
	fmt.Fprintf(out, "%s: %s", resp.Status, body)
	return nil
}
