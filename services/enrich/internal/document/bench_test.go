package document

import (
	"fmt"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

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
