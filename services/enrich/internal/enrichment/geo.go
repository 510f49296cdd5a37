package enrichment

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// GeoConfig names the MaxMind-format database.
type GeoConfig struct {
	// DBPath is a .mmdb file: GeoIP2/GeoLite2 Country or City, or a
	// database with the flat country_code/city layout (ip-location-db).
	DBPath string
}

// Geo adds the country (ISO code) and, where the database has it, the city
// of the client address. The address itself never reaches the document.
type Geo struct {
	db *maxminddb.Reader
}

// ErrGeoDatabase wraps the error of a geo database that cannot be opened.
var ErrGeoDatabase = errors.New("geo database")

// OpenGeo opens cfg.DBPath. Close it when done.
func OpenGeo(cfg GeoConfig) (*Geo, error) {
	db, err := maxminddb.Open(cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("open %w %s: %w", ErrGeoDatabase, cfg.DBPath, err)
	}
	return &Geo{db: db}, nil
}

// Close releases the database.
func (g *Geo) Close() error { return g.db.Close() }

// ForBatch implements Step: one lookup per batch (one client address).
func (g *Geo) ForBatch(b *telemetryv1.EventBatch) func(*telemetryv1.Event, *eventdoc.Source) {
	country, city := g.Lookup(b.GetClientIp())
	if country == "" && city == "" {
		return nil
	}
	return func(_ *telemetryv1.Event, d *eventdoc.Source) {
		d.Country, d.City = country, city
	}
}

// Lookup returns the country code and city name of ip ("" when unknown).
func (g *Geo) Lookup(ip string) (country, city string) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "", ""
	}
	res := g.db.Lookup(addr.Unmap())
	if !res.Found() {
		return "", ""
	}
	// GeoIP2 layout first, then the flat one.
	if res.DecodePath(&country, "country", "iso_code") != nil || country == "" {
		_ = res.DecodePath(&country, "country_code")
	}
	if res.DecodePath(&city, "city", "names", "en") != nil || city == "" {
		city = ""
		_ = res.DecodePath(&city, "city")
	}
	return country, city
}
