package docker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dockerfile is the repository's Dockerfile, read just far enough for the
// checks here: the ARG defaults before the first FROM, and each stage's
// instructions (continuation lines joined, comments dropped).
type dockerfile struct {
	args   map[string]string
	stages []stage
}

type stage struct {
	name, from string
	// instructions are "KEYWORD rest", keyword upper case.
	instructions []string
}

func readDockerfile(t *testing.T, root string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := dockerfile{args: map[string]string{}}
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			line += strings.TrimSuffix(l, "\\")
			continue
		}
		line = strings.Join(strings.Fields(line+l), " ")
		if line == "" {
			continue
		}
		keyword, rest, _ := strings.Cut(line, " ")
		keyword = strings.ToUpper(keyword)
		line = ""
		switch {
		case keyword == "FROM":
			from, name, _ := strings.Cut(rest, " AS ")
			df.stages = append(df.stages, stage{name: strings.TrimSpace(name), from: from})
		case len(df.stages) == 0 && keyword == "ARG":
			k, v, _ := strings.Cut(rest, "=")
			df.args[k] = v
		case len(df.stages) > 0:
			s := &df.stages[len(df.stages)-1]
			s.instructions = append(s.instructions, keyword+" "+rest)
		}
	}
	return df
}

// stage returns the stage named name, or nil.
func (df dockerfile) stage(name string) *stage {
	for i := range df.stages {
		if df.stages[i].name == name {
			return &df.stages[i]
		}
	}
	return nil
}

// baseImage is the first stage's image with the ARG defaults substituted:
// the Go image the build stage compiles in.
func (df dockerfile) baseImage() string {
	img := df.stages[0].from
	for k, v := range df.args {
		img = strings.ReplaceAll(img, "${"+k+"}", v)
	}
	return img
}

// all returns the arguments of every instruction with keyword in s.
func (s *stage) all(keyword string) []string {
	var out []string
	for _, in := range s.instructions {
		if k, rest, _ := strings.Cut(in, " "); k == keyword {
			out = append(out, rest)
		}
	}
	return out
}

// healthcheck returns the exec form of the stage's HEALTHCHECK CMD, nil for
// none, and ["NONE"] for HEALTHCHECK NONE.
func (s *stage) healthcheck(t *testing.T) []string {
	t.Helper()
	hc := s.all("HEALTHCHECK")
	if len(hc) == 0 {
		return nil
	}
	if hc[len(hc)-1] == "NONE" {
		return []string{"NONE"}
	}
	_, cmd, ok := strings.Cut(hc[len(hc)-1], "CMD ")
	var argv []string
	if !ok || json.Unmarshal([]byte(cmd), &argv) != nil {
		t.Fatalf("stage %s: HEALTHCHECK %q: want the exec form, CMD [...]", s.name, hc[len(hc)-1])
	}
	return argv
}

// exposed returns the ports the stage EXPOSEs.
func (s *stage) exposed() []string {
	var out []string
	for _, e := range s.all("EXPOSE") {
		out = append(out, strings.Fields(e)...)
	}
	return out
}
