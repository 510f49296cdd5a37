package procs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
)

// Build compiles the main packages pkgs (paths like ./services/ingest/cmd/ingest,
// relative to root, the workspace root) with -trimpath into dir, in one go
// build, and returns each binary's path by its name (the package's last
// path element).
func Build(ctx context.Context, root, dir string, pkgs ...string) (map[string]string, error) {
	args := append([]string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %v: %w\n%s", pkgs, err, out.String())
	}
	bins := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		name := path.Base(p)
		bins[name] = filepath.Join(dir, name)
	}
	return bins, nil
}

// Root is FindRoot from the working directory: the repository a command
// run with `go run ./tools/cmd/...` or from .cache/bin belongs to.
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	return FindRoot(wd)
}

// FindRoot is the workspace root: the nearest folder at or above dir with a
// go.work.
func FindRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work at or above %s: run this inside the repository", dir)
		}
	}
}
