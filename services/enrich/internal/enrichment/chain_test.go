package enrichment

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// TestNewChain: the steps, in their fixed order, from the configuration;
// a geo database that does not open is an error.
func TestNewChain(t *testing.T) {
	db := writeDB(t, map[string]mmdbtype.Map{"81.2.69.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")}}})
	skew := ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: 10 * time.Minute, MaxAge: 24 * time.Hour}
	tests := []struct {
		name    string
		cfg     ChainConfig
		want    string // the steps' types, in order
		wantErr bool
	}{
		{"without geo", ChainConfig{ClockSkew: skew}, "[enrichment.ClockSkew enrichment.Device]", false},
		{"with geo", ChainConfig{ClockSkew: skew, Geo: GeoConfig{DBPath: db}}, "[enrichment.ClockSkew *enrichment.Geo enrichment.Device]", false},
		{"geo database missing", ChainConfig{ClockSkew: skew, Geo: GeoConfig{DBPath: filepath.Join(t.TempDir(), "none.mmdb")}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain, err := NewChain(tt.cfg)
			if tt.wantErr {
				if err == nil || chain != nil {
					t.Fatalf("NewChain = %v, %v; want an error and no chain", chain, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, s := range chain {
				types = append(types, fmt.Sprintf("%T", s))
			}
			if got := fmt.Sprint(types); got != tt.want {
				t.Fatalf("steps %s, want %s", got, tt.want)
			}
			if err := chain.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}
