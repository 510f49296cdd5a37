package enrichment

import (
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/enrich/geotest"
)

// writeDB writes a small database with records for each network.
func writeDB(t *testing.T, records map[string]mmdbtype.Map) string {
	t.Helper()
	return geotest.WriteDB(t, "Test-City", records)
}

func TestGeo(t *testing.T) {
	path := writeDB(t, map[string]mmdbtype.Map{
		"81.2.69.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")},
			"city": mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("London")}}},
		"2.125.160.0/24":  {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")}},
		"203.0.113.0/24":  {"country_code": mmdbtype.String("AU"), "city": mmdbtype.String("Sydney")},
		"2001:db8::/32":   {"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE")}},
		"198.51.100.0/24": {"country_code": mmdbtype.String("NL")},
	})
	g, err := OpenGeo(GeoConfig{DBPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tests := []struct {
		ip, wantCountry, wantCity string
	}{
		{"81.2.69.160", "GB", "London"},
		{"2.125.160.216", "GB", ""},
		{"203.0.113.7", "AU", "Sydney"},
		{"198.51.100.1", "NL", ""},
		{"2001:db8::1", "DE", ""},
		{"::ffff:81.2.69.160", "GB", "London"},
		{"8.8.8.8", "", ""},
		{"", "", ""},
		{"not-an-ip", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			d := &eventdoc.Source{}
			if f := g.ForBatch(&telemetryv1.EventBatch{ClientIp: tt.ip}); f != nil {
				f(&telemetryv1.Event{}, d)
			}
			if d.Country != tt.wantCountry || d.City != tt.wantCity {
				t.Errorf("got %q %q, want %q %q", d.Country, d.City, tt.wantCountry, tt.wantCity)
			}
		})
	}
}

func TestOpenGeoMissingFile(t *testing.T) {
	if _, err := OpenGeo(GeoConfig{DBPath: filepath.Join(t.TempDir(), "none.mmdb")}); err == nil {
		t.Fatal("want an error")
	}
}
