package servers

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/evtrack/telemetry/platform/procs"
)

// Distribution is an unpacked OpenSearch and how to run it.
type Distribution struct {
	Home     string // the unpacked distribution
	Base     string // its parent, where data and log folders go (reachable by User)
	JavaHome string
	User     string // the user to run it as; empty: the caller
}

// InstallOpenSearch finds the pinned OpenSearch (the integ-test zip from
// Maven Central, no bundled JDK), fetching it with mvn into
// Root/.cache/downloads and unpacking it if needed. As root it also creates
// the run user if missing, and gives the distribution to it: OpenSearch
// refuses to run as root, so its files live where that user can reach them.
func InstallOpenSearch(ctx context.Context, cfg Config, l *Log) (Distribution, error) {
	v := cfg.Versions["OPENSEARCH_VERSION"]
	java, err := javaHome(cfg.JavaHome)
	if err != nil {
		return Distribution{}, err
	}
	o := Distribution{Base: filepath.Join(cfg.Root, ".cache", "opensearch"), JavaHome: java}
	if err := os.MkdirAll(o.Base, 0o755); err != nil {
		return Distribution{}, fmt.Errorf("opensearch: %w", err)
	}
	if os.Geteuid() == 0 {
		o.User = cfg.RunUser
		if err := ensureUser(ctx, o.User); err != nil {
			return Distribution{}, err
		}
		if !reachable(o.Base, o.User) {
			o.Base = fmt.Sprintf("/var/tmp/telemetry-opensearch-%08x", crc32.ChecksumIEEE([]byte(cfg.Root)))
		}
	}
	o.Home = filepath.Join(o.Base, "opensearch-"+v)
	if _, err := os.Stat(filepath.Join(o.Home, "bin", "opensearch")); err != nil {
		zipPath, err := fetchOpenSearch(ctx, cfg, l)
		if err != nil {
			return Distribution{}, err
		}
		l.Printf("unpacking %s", zipPath)
		if err := unpack(zipPath, o.Base, "opensearch-"+v); err != nil {
			return Distribution{}, fmt.Errorf("unpack %s (remove it if it is damaged): %w", zipPath, err)
		}
	}
	if o.User != "" {
		if err := chownTree(o.Base, o.Home, o.User); err != nil {
			return Distribution{}, err
		}
	}
	return o, nil
}

// fetchOpenSearch returns the pinned zip under Root/.cache/downloads, fetched
// with mvn if it is not there.
func fetchOpenSearch(ctx context.Context, cfg Config, l *Log) (string, error) {
	v := cfg.Versions["OPENSEARCH_VERSION"]
	dl := filepath.Join(cfg.Root, ".cache", "downloads")
	zipPath := filepath.Join(dl, "opensearch-"+v+".zip")
	if _, err := os.Stat(zipPath); err == nil {
		return zipPath, nil
	}
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return "", fmt.Errorf("opensearch download: %w", err)
	}
	l.Printf("fetching OpenSearch %s from Maven Central", v)
	cmd := exec.CommandContext(ctx, "mvn", "-q", "-B", "-Dstyle.color=never", "dependency:copy",
		"-Dartifact=org.opensearch.distribution.integ-test-zip:opensearch:"+v+":zip",
		"-DoutputDirectory="+dl, "-Dmdep.stripVersion=false")
	cmd.Stdout, cmd.Stderr = l.w, l.w
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("fetch OpenSearch %s with mvn (needs Maven and Maven Central): %w", v, err)
	}
	if _, err := os.Stat(zipPath); err != nil {
		return "", fmt.Errorf("fetch OpenSearch %s: mvn left no %s", v, zipPath)
	}
	return zipPath, nil
}

// unpack extracts the folder top of the zip into dir/top, through a
// temporary folder so that a half-unpacked distribution is never used.
func unpack(zipPath, dir, top string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	tmp, err := os.MkdirTemp(dir, "unpack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("%q leaves the folder", f.Name)
		}
		if err := extract(f, tmp, name); err != nil {
			return err
		}
	}
	bins, _ := filepath.Glob(filepath.Join(tmp, top, "bin", "*"))
	for _, b := range bins {
		if err := os.Chmod(b, 0o755); err != nil {
			return err
		}
	}
	return os.Rename(filepath.Join(tmp, top), filepath.Join(dir, top))
}

// extract writes the entry f as dir/name; a symlink must point inside dir.
func extract(f *zip.File, dir, name string) error {
	to := filepath.Join(dir, name)
	mode := f.Mode()
	if mode.IsDir() {
		return os.MkdirAll(to, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	if mode&fs.ModeSymlink != 0 {
		target, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if !filepath.IsLocal(filepath.Join(filepath.Dir(name), string(target))) {
			return fmt.Errorf("%q links out of the folder (%q)", f.Name, target)
		}
		return os.Symlink(string(target), to)
	}
	perm := mode.Perm() | 0o644
	w, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// javaHome is OPENSEARCH_JAVA_HOME, else Debian's Java 17 (OpenSearch 2.x's),
// else the Java on PATH.
func javaHome(set string) (string, error) {
	if set != "" {
		return set, nil
	}
	const java17 = "/usr/lib/jvm/java-17-openjdk-amd64"
	if _, err := os.Stat(filepath.Join(java17, "bin", "java")); err == nil {
		return java17, nil
	}
	java, err := exec.LookPath("java")
	if err == nil {
		java, err = filepath.EvalSymlinks(java)
	}
	if err != nil {
		return "", fmt.Errorf("no Java for OpenSearch (install Java 17 or set OPENSEARCH_JAVA_HOME): %w", err)
	}
	return strings.TrimSuffix(java, "/bin/java"), nil
}

// ensureUser creates name as a system user without a home or a login shell
// if it does not exist.
func ensureUser(ctx context.Context, name string) error {
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	out, err := exec.CommandContext(ctx, "useradd", "-r", "-M", "-s", "/usr/sbin/nologin", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("create the user %s to run OpenSearch as: %w: %s", name, err, out)
	}
	return nil
}

// reachable says whether user may enter dir (every folder above it
// included), asked of the kernel by running test -x as that user.
func reachable(dir, name string) bool {
	cred, err := procs.Credential(name)
	if err != nil {
		return false
	}
	cmd := exec.Command("test", "-x", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd.Run() == nil
}

// chownTree gives base itself and everything under home to the user.
func chownTree(base, home, name string) error {
	cred, err := procs.Credential(name)
	if err != nil {
		return err
	}
	uid, gid := int(cred.Uid), int(cred.Gid)
	if err := os.Lchown(base, uid, gid); err != nil {
		return fmt.Errorf("opensearch: %w", err)
	}
	err = filepath.WalkDir(home, func(path string, _ fs.DirEntry, err error) error {
		if err == nil {
			err = os.Lchown(path, uid, gid)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone while walking (a running node's temporary file)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("give OpenSearch to %s: %w", name, err)
	}
	return nil
}
