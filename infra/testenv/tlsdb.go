package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TLSServer is a database server of a test's own that takes TCP
// connections with TLS only, its certificate issued by the test's CA.
type TLSServer struct {
	Addr string  // 127.0.0.1:port, TLS only
	Root *sql.DB // the administrator, over the Unix socket (no TLS needed)
}

// shortTemp is a temporary directory with a short path (a Unix socket's
// path is limited to about 100 bytes), removed when the test ends.
func shortTemp(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startProc starts a server process as cred (nil: this process's user)
// that dies with the test binary and is stopped when the test ends; its
// output goes to log.
func startProc(t testing.TB, cred *syscall.Credential, log string, name string, args ...string) {
	t.Helper()
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		out.Close()
	})
}

// waitDB pings db until it answers (30 s at most).
func waitDB(t testing.TB, db *sql.DB, what, log string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			t.Fatalf("%s did not start in 30s: %v\n%s", what, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartMariaDB starts a MariaDB of its own (mariadb-install-db, mariadbd)
// that requires TLS on TCP (require_secure_transport), with the server
// certificate cert and key and ca's clients trusted. Root connects over
// the Unix socket; create the users the test needs with it.
func StartMariaDB(t testing.TB, ca *CA, cert, key string) *TLSServer {
	t.Helper()
	for _, bin := range []string{"mariadb-install-db", "mariadbd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (infra/local/up.sh installs mariadb-server): %v", bin, err)
		}
	}
	dir := shortTemp(t, "jsdb")
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	port := FreePort(t)
	sock := filepath.Join(dir, "sock")
	log := filepath.Join(dir, "err.log")
	startProc(t, nil, filepath.Join(dir, "out.log"), "mariadbd", "--no-defaults", "--datadir="+data, "--socket="+sock,
		"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--user=root", "--pid-file="+filepath.Join(dir, "pid"),
		"--log-error="+log, "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M",
		"--ssl-ca="+ca.CertFile, "--ssl-cert="+cert, "--ssl-key="+key, "--require-secure-transport=ON")
	dc := mysql.NewConfig()
	dc.Net, dc.Addr, dc.User, dc.MultiStatements = "unix", sock, "root", true
	conn, err := mysql.NewConnector(dc)
	if err != nil {
		t.Fatal(err)
	}
	root := sql.OpenDB(conn)
	t.Cleanup(func() { root.Close() })
	waitDB(t, root, "mariadbd", log)
	// The anonymous users would match before the test's users from localhost.
	Exec(t, root, "DELETE FROM mysql.global_priv WHERE User = ''")
	Exec(t, root, "FLUSH PRIVILEGES")
	return &TLSServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), Root: root}
}

// StartPostgres starts a PostgreSQL of its own (initdb, postgres, as the
// postgres system user) that takes TCP connections only with TLS and a
// client certificate of ca (hostssl ... clientcert=verify-full; trust
// otherwise), with the server certificate cert and key. Root is the
// superuser postgres over the Unix socket.
func StartPostgres(t testing.TB, ca *CA, cert, key string) *TLSServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("initdb is not installed (infra/local/up.sh installs postgresql)")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("no postgres system user (the postgresql package creates it): %v", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	dir := shortTemp(t, "jspg")
	// The server reads its key as the postgres user, mode 0600.
	for _, f := range []struct{ from, to string }{{cert, "server.pem"}, {key, "server-key.pem"}, {ca.CertFile, "ca.pem"}} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 trust clientcert=verify-full\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(data, "pg_hba.conf"), uid, gid); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	log := filepath.Join(dir, "server.log")
	startProc(t, cred, log, filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
		"-c", "ssl=on", "-c", "ssl_cert_file="+filepath.Join(dir, "server.pem"), "-c", "ssl_key_file="+filepath.Join(dir, "server-key.pem"),
		"-c", "ssl_ca_file="+filepath.Join(dir, "ca.pem"))
	root, err := sql.Open("pgx", fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", dir, port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	waitDB(t, root, "postgres", log)
	return &TLSServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), Root: root}
}
