package servers

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"maps"
)

func TestParseVersions(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		want      Versions
		wantError string
	}{
		{"keys, comments and blank lines", "# pinned\n\nOPENSEARCH_VERSION=2.19.6\n  # indented comment\nNATS_SERVER_VERSION=v2.12.1\n",
			Versions{"OPENSEARCH_VERSION": "2.19.6", "NATS_SERVER_VERSION": "v2.12.1"}, ""},
		{"quoted values", "A=\"v1.2.3\"\nB='0.6.0'\n", Versions{"A": "v1.2.3", "B": "0.6.0"}, ""},
		{"pseudo-version", "X=v0.0.0-20240319094008-0393e58bdf10\n", Versions{"X": "v0.0.0-20240319094008-0393e58bdf10"}, ""},
		{"empty file", "", Versions{}, ""},
		{"no equals sign", "OPENSEARCH_VERSION 2.19.6\n", nil, "line 1: \"OPENSEARCH_VERSION 2.19.6\" is not KEY=VALUE"},
		{"export, which Go would not read as bash does", "export A=1\n", nil, "is not KEY=VALUE"},
		{"lower-case key", "a=1\n", nil, "is not KEY=VALUE"},
		{"an expansion", "A=1\nB=$A\n", nil, "line 2: B: value \"$A\" is not a plain version"},
		{"a trailing comment", "A=1 # pinned\n", nil, "is not a plain version"},
		{"an empty value", "A=\n", nil, "is not a plain version"},
		{"a key twice", "A=1\nA=2\n", nil, "line 2: A set twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVersions(strings.NewReader(tt.text))
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantError)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestVersionsFileReadsAsBashReadsIt: scripts/tools.sh sources the file
// that this package parses; both must see the same versions.
func TestVersionsFileReadsAsBashReadsIt(t *testing.T) {
	root := filepath.Join("..", "..")
	v, err := LoadVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(v))
	out, err := exec.Command("bash", append([]string{"-c", `set -eu; source "$1"; shift; for k; do echo "$k=${!k}"; done`, "bash",
		filepath.Join(root, VersionsFile)}, keys...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v: %s", err, out)
	}
	var want []string
	for _, k := range keys {
		want = append(want, k+"="+v[k])
	}
	if got := strings.TrimSpace(string(out)); got != strings.Join(want, "\n") {
		t.Fatalf("bash reads\n%s\nGo reads\n%s", got, strings.Join(want, "\n"))
	}
}
