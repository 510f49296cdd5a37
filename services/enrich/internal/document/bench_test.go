package document

import (
	"fmt"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/services/enrich/internal/enrichment"
)

func BenchmarkBuild(b *testing.B) {
	now := time.Now()
	batch := &telemetryv1.EventBatch{BatchId: "b", AppId: "app", ReceivedAt: timestamppb.New(now), SentAt: timestamppb.New(now),
		UserAgent: "Shop/4.2.0 (iPhone15,2; iOS 18.1)", ClientIp: "81.2.69.160"}
	for i := 0; i < 100; i++ {
		batch.Events = append(batch.Events, &telemetryv1.Event{EventId: fmt.Sprintf("ev-%012d", i), UserId: "user-123", SessionId: "sess-1",
			EventName: "screen_view", ClientTimestamp: timestamppb.New(now), AppVersion: "4.2.0", DeviceOs: "iOS 18.1",
			Metadata: map[string]string{"screen": "home", "build": "1042", "dark_mode": "true", "network": "wifi", "locale": "en_US"},
			Message:  "user interaction recorded by the mobile sdk"})
	}
	builder := NewBuilder("p", enrichment.Chain{enrichment.NewClockSkew(enrichment.ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: time.Hour, MaxAge: 24 * time.Hour}), enrichment.Device{}}, Placement{MaxAge: 24 * time.Hour, MaxFuture: time.Hour})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := builder.Build(batch, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildPrivacy: the cost of the bot, client-address and
// pseudonymisation steps, against the clock and device steps alone on the
// same batch in the same run.
func BenchmarkBuildPrivacy(b *testing.B) {
	now := time.Now()
	batch := &telemetryv1.EventBatch{BatchId: "b", AppId: "app", ReceivedAt: timestamppb.New(now), SentAt: timestamppb.New(now),
		UserAgent: "Shop/4.2.0 (iPhone15,2; iOS 18.1)", ClientIp: "81.2.69.160"}
	for i := 0; i < 100; i++ {
		batch.Events = append(batch.Events, &telemetryv1.Event{EventId: fmt.Sprintf("ev-%012d", i), UserId: "user-123", SessionId: "sess-1",
			EventName: "screen_view", ClientTimestamp: timestamppb.New(now), AppVersion: "4.2.0", DeviceOs: "iOS 18.1"})
	}
	key, err := pseudonym.ParseKey("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	if err != nil {
		b.Fatal(err)
	}
	skew := enrichment.ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: time.Hour, MaxAge: 24 * time.Hour}
	full, err := enrichment.NewChain(enrichment.ChainConfig{ClockSkew: skew, ClientIP: enrichment.ClientIPConfig{Mode: enrichment.IPTruncate},
		Pseudonymise: enrichment.PseudonymiseConfig{Fields: []string{"user_id", "session_id"}, Key: key}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name  string
		chain enrichment.Chain
	}{
		{"clock+device", enrichment.Chain{enrichment.NewClockSkew(skew), enrichment.Device{}}},
		{"+bots+truncate+pseudonymise-2-fields", full},
	} {
		b.Run(bb.name, func(b *testing.B) {
			builder := NewBuilder("p", bb.chain, Placement{MaxAge: 24 * time.Hour, MaxFuture: time.Hour})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := builder.Build(batch, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
