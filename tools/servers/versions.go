package servers

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// VersionsFile is where the pinned versions live, relative to the workspace
// root: scripts/tools.sh sources it, this package parses it, and it is the
// only place a version is written.
const VersionsFile = "scripts/versions.env"

// Versions are the pinned versions by variable name (OPENSEARCH_VERSION,
// NATS_SERVER_VERSION, ...).
type Versions map[string]string

var (
	versionKey   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	versionValue = regexp.MustCompile(`^[A-Za-z0-9._+-]+$`)
)

// ParseVersions reads the subset of shell that versions.env is written in,
// so bash and Go read it alike: blank lines, # comments, and KEY=VALUE with a
// plain value (optionally in quotes). Anything else — an expansion, a space,
// export, a key twice — is an error rather than a silent difference.
func ParseVersions(r io.Reader) (Versions, error) {
	v := Versions{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || !versionKey.MatchString(key) {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", n, line)
		}
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		if !versionValue.MatchString(val) {
			return nil, fmt.Errorf("line %d: %s: value %q is not a plain version", n, key, val)
		}
		if _, dup := v[key]; dup {
			return nil, fmt.Errorf("line %d: %s set twice", n, key)
		}
		v[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

// LoadVersions reads root's versions file and checks that it pins the
// servers.
func LoadVersions(root string) (Versions, error) {
	f, err := os.Open(filepath.Join(root, VersionsFile))
	if err != nil {
		return nil, fmt.Errorf("versions: %w", err)
	}
	defer f.Close()
	v, err := ParseVersions(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", VersionsFile, err)
	}
	for _, k := range []string{"OPENSEARCH_VERSION", "NATS_SERVER_VERSION"} {
		if v[k] == "" {
			return nil, fmt.Errorf("%s: no %s", VersionsFile, k)
		}
	}
	return v, nil
}
