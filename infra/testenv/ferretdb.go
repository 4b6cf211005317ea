package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FerretDB starts a FerretDB (a MongoDB-wire server) of the test's own on
// a free loopback port and returns its mongodb:// URI; it keeps its
// documents in a database of their own on the tests' PostgreSQL (its
// SQLite backend is far slower here), and both go when the test ends. The server is built once per test
// binary from infra/testenv/ferretdb, a module of its own, so that
// FerretDB stays out of jetsync's go.mod (the first build takes a few
// minutes; the build cache keeps it).
func FerretDB(t testing.TB) string {
	t.Helper()
	bin := ferretBinary(t)
	pg := Postgres(t)
	dbname := Name("ferretdb")
	if _, err := pg.Exec("CREATE DATABASE " + dbname); err != nil {
		t.Fatalf("a database for FerretDB: %v", err)
	}
	t.Cleanup(func() {
		if _, err := pg.Exec("DROP DATABASE " + dbname + " WITH (FORCE)"); err != nil {
			t.Logf("dropping FerretDB's database %s: %v", dbname, err)
		}
	})
	port := FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "-listen", addr, "-postgresql", "postgres://postgres@"+PostgresAddr()+"/"+dbname+"?sslmode=disable")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "mongodb://" + addr + "/"
		}
		if time.Now().After(deadline) {
			t.Fatalf("FerretDB on %s did not start in 20s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ferretBinary builds infra/testenv/ferretdb once per test binary.
func ferretBinary(t testing.TB) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if path, ok := built["ferretdb"]; ok {
		return path
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(gomod)), "go.mod") {
		t.Fatalf("cannot find jetsync's go.mod: %v", err)
	}
	dir := filepath.Join(filepath.Dir(strings.TrimSpace(string(gomod))), "infra", "testenv", "ferretdb")
	tmp, err := os.MkdirTemp("", "jetsync-ferretdb")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tmp, "ferretdb")
	build := exec.Command("go", "build", "-o", path, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatal(fmt.Errorf("go build %s: %v\n%s", dir, err, out))
	}
	built["ferretdb"] = path
	return path
}
