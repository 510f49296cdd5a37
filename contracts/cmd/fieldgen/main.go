// Command fieldgen derives, from the field options of
// contracts/proto/telemetry/v1/event.proto, every piece of code and
// configuration that would otherwise repeat an event field by hand: the
// ingest decoder's field switch and validation table, the stored document's
// struct and encoder, the index template, the copy of an event into its
// document, the query service's reader of a document's _source, its
// conversion into a StoredEvent and the StoredEvent's JSON, the ingest
// README's field table, and the Swift SDK's table of the same rules. `make generate` runs it after buf; with -check it
// writes nothing and fails when a derived file is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "repository root")
	check := flag.Bool("check", false, "fail if a generated file differs instead of writing it")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "fieldgen:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	m, err := load()
	if err != nil {
		return err
	}
	outs, err := render(m, root)
	if err != nil {
		return err
	}
	stale := 0
	for _, o := range outs {
		path := filepath.Join(root, o.path)
		old, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if bytes.Equal(old, o.body) {
			continue
		}
		if check {
			fmt.Fprintf(os.Stderr, "fieldgen: %s is stale; run 'make generate'\n", o.path)
			stale++
			continue
		}
		if err := os.WriteFile(path, o.body, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.path, err)
		}
		fmt.Fprintf(os.Stderr, "fieldgen: wrote %s\n", o.path)
	}
	if stale > 0 {
		return fmt.Errorf("%d generated files are stale", stale)
	}
	return nil
}
