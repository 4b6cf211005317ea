package mssql_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/mssql"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

func quote(name string) string { return "[" + strings.ReplaceAll(name, "]", "]]") + "]" }

// TestConformance runs the connector suite against a real SQL Server given
// as a go-mssqldb URL (sqlserver://user:password@host:port?database=test).
func TestConformance(t *testing.T) {
	dsn := os.Getenv("JETSYNC_TEST_MSSQL_DSN")
	if dsn == "" {
		t.Skip("set JETSYNC_TEST_MSSQL_DSN=sqlserver://user:password@host:port?database=test to run the SQL Server conformance suite")
	}
	cfg := configFromDSN(t, dsn)
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	typeOf := func(c conformance.Column) string {
		switch c.Type {
		case conformance.Int:
			return "INT"
		case conformance.BigInt:
			return "BIGINT"
		case conformance.LongText:
			return "NVARCHAR(MAX)"
		default:
			return fmt.Sprintf("NVARCHAR(%d) COLLATE Latin1_General_100_BIN2_UTF8", c.Size)
		}
	}
	conformance.Run(t, conformance.Harness{
		Open: func(t *testing.T, proxy string) handlers.Sink {
			c := cfg
			if proxy != "" {
				c.Addr = proxy
			}
			s, err := mssql.Open(context.Background(), c, testenv.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		CreateTable: func(t *testing.T, spec conformance.Table) string {
			name := testenv.Name(spec.Base)
			testenv.Exec(t, db, conformance.CreateSQL(spec, name, quote, typeOf, ""))
			t.Cleanup(func() { db.Exec("DROP TABLE " + quote(name)) })
			return name
		},
		Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
			return conformance.ReadSQL(t, db, conformance.SelectAll(spec, table, quote))
		},
		Addr: cfg.Addr,
		Caps: conformance.Capabilities{Guards: true, LengthLimit: true},
	})
}

// configFromDSN is the connector's configuration for a go-mssqldb URL
// (encrypt=disable and a trusted certificate unless the URL says).
func configFromDSN(tb testing.TB, dsn string) mssql.Config {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	pw, _ := u.User.Password()
	cfg := mssql.Config{Addr: u.Host, User: u.User.Username(), Password: platform.Secret(pw), Database: u.Query().Get("database"),
		Encrypt: "disable", TrustServerCertificate: true, MaxConns: 4, Timeout: 10 * time.Second}
	if e := u.Query().Get("encrypt"); e != "" {
		cfg.Encrypt = e
	}
	return cfg
}
