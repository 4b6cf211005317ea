package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// Build compiles the main package in dir (relative to the test's working
// directory, "." for the package under test) once per test binary and
// returns the executable's path.
func Build(t testing.TB, dir string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if path, ok := built[dir]; ok {
		return path
	}
	tmp, err := os.MkdirTemp("", "jetsync-build")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tmp, "fn")
	if out, err := exec.Command("go", "build", "-o", path, dir).CombinedOutput(); err != nil {
		t.Fatal(fmt.Errorf("go build %s: %v\n%s", dir, err, out))
	}
	built[dir] = path
	return path
}
