package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// Build compiles the main package in dir (relative to the test's working
// directory, "." for the package under test) once per test binary and set
// of build tags (e.g. "testhooks": handlers' JETSYNC_TEST_HOOKS) and
// returns the executable's path.
func Build(t testing.TB, dir string, tags ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := dir + "#" + strings.Join(tags, ",")
	if path, ok := built[key]; ok {
		return path
	}
	tmp, err := os.MkdirTemp("", "jetsync-build")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tmp, "fn")
	args := []string{"build", "-o", path}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	if out, err := exec.Command("go", append(args, dir)...).CombinedOutput(); err != nil {
		t.Fatal(fmt.Errorf("go build %s: %v\n%s", dir, err, out))
	}
	built[key] = path
	return path
}
