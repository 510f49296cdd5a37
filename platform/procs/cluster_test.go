package procs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeConfDir: a node's config folder is a copy of the distribution's
// whose JVM options write the GC log, heap dumps and crash files under the
// node's own folder; an existing one is kept.
func TestNodeConfDir(t *testing.T) {
	home, work := t.TempDir(), t.TempDir()
	conf := filepath.Join(work, "config")
	jvm := "-XX:HeapDumpPath=data\n-XX:ErrorFile=logs/hs_err_pid%p.log\n8:-Xloggc:logs/gc.log\n9-:-Xlog:gc*,gc+age=trace,safepoint:file=logs/gc.log:utctime,pid,tags:filecount=32,filesize=64m\n"
	for name, body := range map[string]string{"jvm.options": jvm, "opensearch.yml": "# settings\n", "jvm.options.d/x.options": "-Dx=1\n"} {
		p := filepath.Join(home, "config", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodeConfDir(home, conf, work, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(conf, "jvm.options"))
	if err != nil {
		t.Fatal(err)
	}
	want := "-XX:HeapDumpPath=" + work + "\n-XX:ErrorFile=" + work + "/logs/hs_err_pid%p.log\n8:-Xloggc:" + work + "/logs/gc.log\n" +
		"9-:-Xlog:gc*,gc+age=trace,safepoint:file=" + work + "/logs/gc.log:utctime,pid,tags:filecount=32,filesize=64m\n"
	if string(b) != want {
		t.Fatalf("jvm.options:\n%s\nwant\n%s", b, want)
	}
	if b, err := os.ReadFile(filepath.Join(conf, "jvm.options.d", "x.options")); err != nil || string(b) != "-Dx=1\n" {
		t.Fatalf("jvm.options.d not copied: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(work, "logs")); err != nil {
		t.Fatalf("no logs folder: %v", err)
	}
	// Kept as it is on the next start.
	if err := os.WriteFile(filepath.Join(conf, "jvm.options"), []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := nodeConfDir(home, conf, work, ""); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "jvm.options")); string(b) != "edited\n" {
		t.Fatalf("an existing config was replaced: %q", b)
	}
}

func TestNATSClusterNodeConf(t *testing.T) {
	n := &NATSClusterNode{ServerName: "nats-1", Name: "c", Listen: "127.0.0.1:6001", Routes: []string{"127.0.0.1:6000", "127.0.0.1:6001"}}
	got := n.conf()
	for _, want := range []string{`server_name: "nats-1"`, `name: "c"`, `listen: "127.0.0.1:6001"`,
		`routes: ["nats-route://127.0.0.1:6000", "nats-route://127.0.0.1:6001"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in %s", want, got)
		}
	}
}

func TestPorts(t *testing.T) {
	got, err := ports("127.0.0.1", 14200, 3)
	if err != nil || strings.Join(got, ",") != "127.0.0.1:14200,127.0.0.1:14201,127.0.0.1:14202" {
		t.Fatalf("ports from a base: %v, %v", got, err)
	}
	free, err := ports("127.0.0.1", 0, 3)
	if err != nil || len(free) != 3 {
		t.Fatalf("free ports: %v, %v", free, err)
	}
}
