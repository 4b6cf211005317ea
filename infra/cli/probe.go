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
func probe(ctx context.Context, url string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: probe %q: %v", errUsage, url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %s: %s", url, resp.Status, body)
	}
	fmt.Fprintf(out, "%s: %s", resp.Status, body)
	return nil
}
