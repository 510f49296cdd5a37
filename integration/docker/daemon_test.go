package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemon is a Docker engine of the test's own: its socket and runtime state
// in a temporary folder (a unix socket path must stay short), its data root
// — images and the build cache, kept between runs — under .cache/docker. It
// runs without a bridge or iptables rules, so containers use the host's
// network and nothing on the machine changes.
type daemon struct {
	env   []string // the docker CLI's environment
	cache string
}

// startDaemon starts dockerd and stops it, by its PID, when the test ends.
func startDaemon(t *testing.T, root string) *daemon {
	t.Helper()
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatal("no dockerd: `make test-docker` installs Debian's docker.io")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("no docker CLI: `make test-docker` installs Debian's docker.io")
	}
	cache := filepath.Join(root, ".cache", "docker")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(cache, "dockerd.pid")
	stopLeftover(t, pidfile, cache)
	run, err := os.MkdirTemp("", "evtrack-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(cache, "dockerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(run, "docker.sock")
	cmd := exec.Command(dockerd, "--data-root", filepath.Join(cache, "data"), "--exec-root", filepath.Join(run, "exec"),
		"--pidfile", filepath.Join(run, "dockerd.pid"), "-H", "unix://"+sock,
		"--iptables=false", "--ip6tables=false", "--bridge=none")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+" "+run), 0o644)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("dockerd (pid %d) did not stop within 30s of SIGTERM; killed", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-exited
		}
		removeRunDir(t, run)
		_ = os.Remove(pidfile)
		logf.Close()
	})
	// The legacy builder, as verified here (BuildKit needs buildx), and a
	// CLI configuration of its own (no contexts or credential helpers).
	d := &daemon{cache: cache, env: append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_BUILDKIT=0",
		"DOCKER_CONFIG="+filepath.Join(run, "cli"), "DOCKER_CLI_HINTS=false")}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := d.run("version", "--format", "{{.Server.Version}}"); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("dockerd exited; %s:\n%s", logPath, tail(logPath))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd did not answer within 30s; %s:\n%s", logPath, tail(logPath))
		}
	}
	// Containers an interrupted run left (the daemon is this test's alone).
	if _, err := d.run("container", "prune", "-f"); err != nil {
		t.Fatal(err)
	}
	// Images of earlier runs that a new build replaced; the tagged images
	// and their layers stay, as the next run's build cache.
	t.Cleanup(func() { _, _ = d.run("image", "prune", "-f") })
	return d
}

// stopLeftover stops a dockerd that an interrupted run of this test left
// behind (its PID in pidfile and its data root under cache), so a new one
// can use the data root.
func stopLeftover(t *testing.T, pidfile, cache string) {
	t.Helper()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return
	}
	pidText, run, _ := strings.Cut(string(b), " ")
	pid, _ := strconv.Atoi(pidText)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if pid > 0 && err == nil && bytes.Contains(cmdline, []byte(filepath.Join(cache, "data"))) {
		t.Logf("stopping dockerd %d left by an interrupted run", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if strings.Contains(run, "evtrack-dockerd-") {
		removeRunDir(t, run)
	}
	_ = os.Remove(pidfile)
}

// removeRunDir removes a stopped dockerd's runtime folder, first unmounting
// what it leaves mounted there (its network namespace handle).
func removeRunDir(t *testing.T, run string) {
	t.Helper()
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], run+"/") {
			if err := syscall.Unmount(f[1], syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", f[1], err)
			}
		}
	}
	if err := os.RemoveAll(run); err != nil {
		t.Errorf("dockerd's runtime folder: %v", err)
	}
}

// run runs the docker CLI and returns its standard output; the error
// carries its standard error.
func (d *daemon) run(args ...string) (string, error) {
	return d.runWithInput(nil, args...)
}

func (d *daemon) runWithInput(stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env, cmd.Stdin = d.env, stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	return string(out), nil
}

// must runs the docker CLI and fails the test on an error.
func (d *daemon) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// ensureGoImage makes image (the Dockerfile's golang:<version>-… build
// image) present: already there, pulled when a registry is reachable, or
// else — as on this project's machines, where none is — a local stand-in
// under the same name: the same Go release (the host's when it matches,
// else fetched by the go command as golang.org/toolchain), a static busybox
// for RUN's /bin/sh, and the host's CA bundle, so that the build can fetch
// modules through the machine's TLS-intercepting proxy.
func (d *daemon) ensureGoImage(t *testing.T, image string) {
	t.Helper()
	if _, err := d.run("image", "inspect", image); err == nil {
		return
	}
	if _, err := d.run("pull", "-q", image); err == nil {
		return
	}
	version, _, _ := strings.Cut(strings.TrimPrefix(image, "golang:"), "-")
	if !strings.HasPrefix(image, "golang:") || version == "" {
		t.Fatalf("build image %s: cannot be pulled, and only golang:<version>[-variant] has a stand-in", image)
	}
	start := time.Now()
	gorootCmd := exec.Command("go", "env", "GOROOT")
	gorootCmd.Env = append(os.Environ(), "GOTOOLCHAIN=go"+version)
	goroot, err := gorootCmd.Output()
	if err != nil {
		t.Fatalf("Go %s for the stand-in: %v", version, err)
	}
	busybox := d.busybox(t)
	certs := os.Getenv("SSL_CERT_FILE")
	if certs == "" {
		certs = "/etc/ssl/certs/ca-certificates.crt"
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeStandIn(pw, strings.TrimSpace(string(goroot)), busybox, certs)) }()
	d.mustWithInput(t, pr, "import",
		"--change", "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--change", "ENV GOPATH=/go", "--change", "ENV GOLANG_VERSION="+version, "--change", "WORKDIR /go",
		"--change", "LABEL org.opencontainers.image.description=local-stand-in-for-"+image, "-", image)
	t.Logf("no registry: built a local stand-in for %s in %s", image, time.Since(start).Round(time.Second))
}

func (d *daemon) mustWithInput(t *testing.T, stdin io.Reader, args ...string) {
	t.Helper()
	if _, err := d.runWithInput(stdin, args...); err != nil {
		t.Fatal(err)
	}
}

// busybox returns a static busybox from Debian's busybox-static package,
// fetched once into the cache.
func (d *daemon) busybox(t *testing.T) string {
	t.Helper()
	path := filepath.Join(d.cache, "stand-in", "busybox")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := t.TempDir()
	for _, c := range [][]string{{"apt-get", "download", "-q", "busybox-static"}, {"sh", "-c", "dpkg-deb -x busybox-static_*.deb x"}} {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("busybox for the stand-in: %s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tmp, "x", "bin", "busybox"), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeStandIn writes the stand-in's root file system as a tar stream.
func writeStandIn(w io.Writer, goroot, busybox, certs string) error {
	tw := tar.NewWriter(w)
	for _, dir := range []string{"bin", "etc", "etc/ssl", "etc/ssl/certs", "usr", "usr/local", "go", "root", "tmp"} {
		mode := int64(0o755)
		if dir == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: mode}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/sh", Linkname: "busybox", Mode: 0o777}); err != nil {
		return err
	}
	if err := addFile(tw, "bin/busybox", busybox); err != nil {
		return err
	}
	if err := addFile(tw, "etc/ssl/certs/ca-certificates.crt", certs); err != nil {
		return err
	}
	err := filepath.WalkDir(goroot, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, path)
		if rel == "test" { // the toolchain's own test suite
			return filepath.SkipDir
		}
		return addFile(tw, filepath.ToSlash(filepath.Join("usr/local/go", rel)), path)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// addFile adds the file, folder or symlink at path as name, owned by root.
func addFile(tw *tar.Writer, name, path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name, h.Uid, h.Gid, h.Uname, h.Gname = name, 0, 0, "", ""
	if fi.IsDir() {
		h.Name += "/"
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// tail returns the last lines of the file at path.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err.Error()
	}
	return lastLines(string(b), 40)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
