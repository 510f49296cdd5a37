package document

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evtrack/telemetry/services/enrich/internal/enrichment"
)

// TestEnvelopeLimits: header-derived fields are bounded in the document
// whatever ingest let through: the User-Agent to 512 bytes at a character
// boundary, a client address parsed or dropped.
func TestEnvelopeLimits(t *testing.T) {
	long := "Shop/4.2.0 (iPhone15,2; iOS 18.0) " + strings.Repeat("x", 10<<10)
	euro := strings.Repeat("a", 510) + "€€" // the first € straddles byte 512
	tests := []struct {
		name      string
		ua, ip    string
		wantUA    string
		wantIP    string
		wantModel string
	}{
		{"short UA kept", "Shop/1.0 (iPhone15,2; iOS 18.0)", "", "Shop/1.0 (iPhone15,2; iOS 18.0)", "", "iPhone15,2"},
		{"long UA cut to 512 bytes", long, "", long[:512], "", "iPhone15,2"},
		{"cut never splits a character", euro, "", strings.Repeat("a", 510), "", ""},
		{"address kept", "", "81.2.69.160", "", "81.2.69.160", ""},
		{"IPv4-mapped address unmapped", "", "::ffff:81.2.69.160", "", "81.2.69.160", ""},
		{"IPv6 canonical", "", "2001:DB8:0:0:0:0:0:1", "", "2001:db8::1", ""},
		{"garbage address dropped", "", "not-an-ip", "", "", ""},
		{"address with port dropped", "", "81.2.69.160:443", "", "", ""},
		{"huge address dropped", "", strings.Repeat("1", 100<<10), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &telemetryv1.EventBatch{BatchId: "b", AppId: "app", ReceivedAt: timestamppb.Now(), UserAgent: tt.ua, ClientIp: tt.ip,
				Events: []*telemetryv1.Event{{EventId: "e", EventName: "x", ClientTimestamp: timestamppb.Now()}}}
			var sawIP string
			chain := enrichment.Chain{ipProbe{&sawIP}, enrichment.Device{}}
			docs, err := NewBuilder("p", chain, testPlacement).Build(b, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			src := decode(t, docs[0].Body)
			if got, _ := src["user_agent"].(string); got != tt.wantUA {
				t.Errorf("user_agent %d bytes %q…, want %d bytes", len(got), trim(got), len(tt.wantUA))
			}
			if got, _ := src["user_agent"].(string); len(got) > MaxUserAgentBytes || !utf8.ValidString(got) {
				t.Errorf("user_agent of %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
			}
			if got, _ := src["device_model"].(string); got != tt.wantModel {
				t.Errorf("device_model %q, want %q", got, tt.wantModel)
			}
			if sawIP != tt.wantIP {
				t.Errorf("steps saw client address %q, want %q", trim(sawIP), tt.wantIP)
			}
		})
	}
}

// ipProbe is a step recording the client address the steps are given.
type ipProbe struct{ saw *string }

func (p ipProbe) ForBatch(b *telemetryv1.EventBatch) func(*telemetryv1.Event, *eventdoc.Source) {
	*p.saw = b.GetClientIp()
	return nil
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("document %s: %v", body, err)
	}
	return m
}
