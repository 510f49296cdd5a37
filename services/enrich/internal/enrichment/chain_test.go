package enrichment

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// TestNewChain: the steps, in their fixed order, from the configuration;
// a geo database that does not open is an error.
func TestNewChain(t *testing.T) {
	db := writeDB(t, map[string]mmdbtype.Map{"81.2.69.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")}}})
	key := testPseudonymKey(t)
	skew := ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: 10 * time.Minute, MaxAge: 24 * time.Hour}
	tests := []struct {
		name    string
		cfg     ChainConfig
		want    string // the steps' types, in order
		wantErr bool
	}{
		{"without geo", ChainConfig{ClockSkew: skew}, "[enrichment.ClockSkew enrichment.Device *enrichment.Bots enrichment.ClientIP]", false},
		{"with geo", ChainConfig{ClockSkew: skew, Geo: GeoConfig{DBPath: db}},
			"[enrichment.ClockSkew *enrichment.Geo enrichment.Device *enrichment.Bots enrichment.ClientIP]", false},
		{"with geo and pseudonyms", ChainConfig{ClockSkew: skew, Geo: GeoConfig{DBPath: db}, Pseudonymise: PseudonymiseConfig{Fields: []string{"user_id"}, Key: key}},
			"[enrichment.ClockSkew *enrichment.Geo enrichment.Device *enrichment.Bots enrichment.ClientIP enrichment.Pseudonymise]", false},
		{"geo database missing", ChainConfig{ClockSkew: skew, Geo: GeoConfig{DBPath: filepath.Join(t.TempDir(), "none.mmdb")}}, "", true},
		{"bot list missing", ChainConfig{ClockSkew: skew, Bots: BotConfig{ListFile: filepath.Join(t.TempDir(), "none.txt")}}, "", true},
		{"pseudonyms without a key", ChainConfig{ClockSkew: skew, Pseudonymise: PseudonymiseConfig{Fields: []string{"user_id"}}}, "", true},
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

// TestChainPrivacy: geo looks the full address up, the document keeps only
// what the IP mode allows, bots are marked and identifiers pseudonymised
// after every step that reads them.
func TestChainPrivacy(t *testing.T) {
	db := writeDB(t, map[string]mmdbtype.Map{"81.2.69.128/25": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")}}})
	key := testPseudonymKey(t)
	skew := ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: 10 * time.Minute, MaxAge: 24 * time.Hour}
	for _, tt := range []struct {
		mode   IPMode
		wantIP string
	}{{IPNone, "81.2.69.160"}, {IPTruncate, "81.2.69.0"}, {IPDrop, ""}} {
		t.Run(string(tt.mode), func(t *testing.T) {
			chain, err := NewChain(ChainConfig{ClockSkew: skew, Geo: GeoConfig{DBPath: db}, ClientIP: ClientIPConfig{Mode: tt.mode},
				Pseudonymise: PseudonymiseConfig{Fields: []string{"user_id"}, Key: key}})
			if err != nil {
				t.Fatal(err)
			}
			defer chain.Close()
			now := time.Now()
			batch := &telemetryv1.EventBatch{ClientIp: "81.2.69.160", UserAgent: "python-requests/2.31.0", ReceivedAt: timestamppb.New(now)}
			d := eventdoc.Source{UserID: "user-1", Timestamp: now, ClientTimestamp: now}
			chain.ForBatch(batch)(&telemetryv1.Event{UserId: "user-1"}, &d)
			if d.Country != "GB" {
				t.Errorf("country %q: geo did not see the full address", d.Country)
			}
			if d.ClientIP != tt.wantIP || d.Bot != "automation" || d.UserID != key.Of("user-1") {
				t.Errorf("client_ip %q bot %q user_id %q; want %q automation %q", d.ClientIP, d.Bot, d.UserID, tt.wantIP, key.Of("user-1"))
			}
			body := string(d.AppendJSON(nil))
			if tt.mode != IPNone && strings.Contains(body, "81.2.69.160") {
				t.Errorf("document holds the full address: %s", body)
			}
			if strings.Contains(body, `"user-1"`) {
				t.Errorf("document holds the user id: %s", body)
			}
		})
	}
}
