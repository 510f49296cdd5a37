package service

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestUseCasesImportNoAdapter: the use cases (and the domain they use) own
// their port types and never import an adapter, or the technology an
// adapter wraps; service.go wires adapters into them.
func TestUseCasesImportNoAdapter(t *testing.T) {
	t.Parallel()
	const internal = "github.com/evtrack/telemetry/services/enrich/internal/"
	forbidden := []string{
		internal + "bulk", internal + "templates", internal + "retention", internal + "compaction",
		"github.com/evtrack/telemetry/platform/opensearchx", "github.com/opensearch-project/",
	}
	for _, pkg := range []string{"pipeline", "deadletter", "document", "enrichment"} {
		dir := filepath.Join("..", "internal", pkg)
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range forbidden {
					if path == bad || strings.HasPrefix(path, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(path, bad)) {
						t.Errorf("%s imports %s: a use case owns its port types, an adapter implements them", f, path)
					}
				}
			}
		}
	}
}
