package platform_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNothingOfJetsync: infra/platform is process plumbing (NATS
// connection, secrets, logging, HTTP, backoff); jetsync's contract — subjects,
// streams, headers — lives in bridge/change and bridge/streams. A platform
// file that imports a jetsync package fails this.
func TestImportsNothingOfJetsync(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/jetsync/jetsync") {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
