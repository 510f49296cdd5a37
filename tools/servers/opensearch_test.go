package servers

import (
	"archive/zip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeZip writes entries (name → content; a name ending in / is a folder,
// content "->target" a symlink) into a zip file.
func writeZip(t *testing.T, path string, entries [][2]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e[0], Method: zip.Deflate}
		h.SetMode(0o644)
		body := e[1]
		switch {
		case strings.HasSuffix(e[0], "/"):
			h.SetMode(fs.ModeDir | 0o755)
		case strings.HasPrefix(body, "->"):
			h.SetMode(fs.ModeSymlink | 0o777)
			body = strings.TrimPrefix(body, "->")
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestUnpack(t *testing.T) {
	tests := []struct {
		name      string
		entries   [][2]string
		wantError string
	}{
		{"a distribution", [][2]string{{"opensearch-9/", ""}, {"opensearch-9/bin/opensearch", "#!/bin/sh\n"},
			{"opensearch-9/lib/core.jar", "jar"}, {"opensearch-9/lib/current.jar", "->core.jar"}, {"opensearch-9/config/jvm.options", "-Xss1m"}}, ""},
		{"an entry outside the folder", [][2]string{{"opensearch-9/bin/opensearch", "x"}, {"../evil", "x"}}, "leaves the folder"},
		{"a symlink out of the folder", [][2]string{{"opensearch-9/lib/x", "->../../../etc"}}, "links out of the folder"},
		{"an absolute entry", [][2]string{{"/etc/evil", "x"}}, "leaves the folder"},
		{"not the expected top folder", [][2]string{{"elasticsearch-9/bin/x", "x"}}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			zipPath := filepath.Join(dir, "dist.zip")
			writeZip(t, zipPath, tt.entries)
			err := unpack(zipPath, dir, "opensearch-9")
			if left, _ := filepath.Glob(filepath.Join(dir, "unpack-*")); len(left) > 0 {
				t.Fatalf("left behind %v", left)
			}
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantError)
				}
				if _, err := os.Stat(filepath.Join(dir, "opensearch-9")); !os.IsNotExist(err) {
					t.Fatalf("a failed unpack left the distribution: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			home := filepath.Join(dir, "opensearch-9")
			if st, err := os.Stat(filepath.Join(home, "bin", "opensearch")); err != nil || st.Mode().Perm() != 0o755 {
				t.Fatalf("bin/opensearch: %v, %v; want it executable", st, err)
			}
			if b, err := os.ReadFile(filepath.Join(home, "lib", "current.jar")); err != nil || string(b) != "jar" {
				t.Fatalf("through the symlink: %q, %v", b, err)
			}
			if b, _ := os.ReadFile(filepath.Join(home, "config", "jvm.options")); string(b) != "-Xss1m" {
				t.Fatalf("config: %q", b)
			}
		})
	}
	if err := unpack(filepath.Join(t.TempDir(), "missing.zip"), t.TempDir(), "x"); err == nil {
		t.Fatal("unpacking a missing zip succeeded")
	}
}

func TestJavaHome(t *testing.T) {
	if got, err := javaHome("/opt/jdk"); got != "/opt/jdk" || err != nil {
		t.Fatalf("set: %q, %v", got, err)
	}
	got, err := javaHome("")
	if err != nil {
		t.Fatal(err) // OpenSearch needs Java wherever these tests run
	}
	if _, err := os.Stat(filepath.Join(got, "bin", "java")); err != nil {
		t.Fatalf("found %q: %v", got, err)
	}
}
