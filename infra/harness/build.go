package harness

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// Binaries are the executables a run needs.
type Binaries struct {
	NATSServer string
	Bridge     string
	Table      string
}

// Build compiles nats-server (the module's own dependency, a current
// version), the bridge and the table function into dir. It runs from the
// module root or any directory inside the module.
func Build(ctx context.Context, dir string) (Binaries, error) {
	b := Binaries{
		NATSServer: filepath.Join(dir, "nats-server"),
		Bridge:     filepath.Join(dir, "jetsync-bridge"),
		Table:      filepath.Join(dir, "jetsync-table"),
	}
	for path, pkg := range map[string]string{
		b.NATSServer: "github.com/nats-io/nats-server/v2",
		b.Bridge:     "github.com/jetsync/jetsync/bridge/cmd/jetsync-bridge",
		b.Table:      "github.com/jetsync/jetsync/functions/table/cmd/jetsync-table",
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, pkg)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return b, nil
}
