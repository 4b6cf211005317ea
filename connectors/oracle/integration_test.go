//go:build oracle

package oracle_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/godror/godror"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/oracle"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestConformance runs the connector suite against a real Oracle database
// given as a godror DSN (user/password@host:port/service).
func TestConformance(t *testing.T) {
	dsn := os.Getenv("JETSYNC_TEST_ORACLE_DSN")
	if dsn == "" {
		t.Skip("set JETSYNC_TEST_ORACLE_DSN=user/password@host:port/service to run the Oracle conformance suite")
	}
	params, err := godror.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oracle.Config{ConnectString: params.ConnectString, User: params.Username, MaxConns: 4, Timeout: 10 * time.Second}
	cfg.Password = platform.Secret(params.Password.Secret())
	addr, service, _ := strings.Cut(params.ConnectString, "/")
	db, err := sql.Open("godror", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, ddl := range stateDDL {
		db.Exec(ddl) // exists already: fine
	}
	typeOf := func(c conformance.Column) string {
		switch c.Type {
		case conformance.Int:
			return "NUMBER(10)"
		case conformance.BigInt:
			return "NUMBER(19)"
		case conformance.LongText:
			return "CLOB"
		default:
			return fmt.Sprintf("VARCHAR2(%d CHAR)", c.Size)
		}
	}
	conformance.Run(t, conformance.Harness{
		Open: func(t *testing.T, proxy string) handlers.Sink {
			c := cfg
			if proxy != "" {
				c.ConnectString = proxy + "/" + service
			}
			s, err := oracle.Open(context.Background(), c, testenv.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		CreateTable: func(t *testing.T, spec conformance.Table) string {
			name := testenv.Name("t")
			testenv.Exec(t, db, conformance.CreateSQL(spec, name, oracle.Ident, typeOf, ""))
			t.Cleanup(func() { db.Exec("DROP TABLE " + oracle.Ident(name) + " PURGE") })
			return name
		},
		Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
			return conformance.ReadSQL(t, db, conformance.SelectAll(spec, table, oracle.Ident))
		},
		Caps: conformance.Capabilities{
			Guards: true, LengthLimit: true,
			// Oracle names cannot hold a double quote.
			Identifiers: []string{"select", "Mixed Case", "dash-col", "back`tick", "semi;colon"},
		},
		Addr: addr,
	})
}

// stateDDL is infra/sql/oracle/jetsync_state.sql.
var stateDDL = []string{
	`CREATE TABLE JETSYNC_APPLIED (FUNCTION_NAME VARCHAR2(255) NOT NULL, KEY_HASH RAW(32) NOT NULL, SEQ NUMBER(20) NOT NULL, PRIMARY KEY (FUNCTION_NAME, KEY_HASH))`,
	`CREATE TABLE JETSYNC_CHECKPOINTS (FUNCTION_NAME VARCHAR2(255) NOT NULL PRIMARY KEY, SEQ NUMBER(20) NOT NULL, UPDATED_AT TIMESTAMP NOT NULL)`,
}
