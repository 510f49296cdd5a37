package search

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/auth"
)

// TestMaxRequestBytesCoversTheContract builds the largest requests Scope
// and the handlers accept and checks that they encode within
// MaxRequestBytes, so lowering the gRPC message limit never refuses a valid
// call (and raising a length limit here fails this test until the message
// limit follows).
func TestMaxRequestBytesCoversTheContract(t *testing.T) {
	from, to := timestamppb.Now(), timestamppb.New(time.Now().Add(time.Hour))
	wide := func(n int) string { return strings.Repeat("😀", n) } // 4 bytes per character
	names := make([]string, maxNames)
	for i := range names {
		names[i] = wide(maxValueLen)
	}
	search := &queryv1.SearchEventsRequest{
		AppId: wide(maxValueLen), UserId: wide(maxValueLen), AnonymousId: wide(maxValueLen), SessionId: wide(maxValueLen),
		EventName: names, AppVersion: wide(maxValueLen), DeviceOs: wide(maxValueLen), Country: wide(maxValueLen),
		From: from, To: to, Q: wide(maxQLen), PageSize: MaxPageSize,
		PageToken: strings.Repeat("a", maxPageTokenLen),
	}
	stats := &queryv1.EventStatsRequest{
		AppId: wide(maxValueLen), UserId: wide(maxValueLen), AnonymousId: wide(maxValueLen), SessionId: wide(maxValueLen),
		EventName: names, AppVersion: wide(maxValueLen), DeviceOs: wide(maxValueLen), Country: wide(maxValueLen),
		From: from, To: to, Q: wide(maxQLen), Interval: "15m", Top: MaxTop,
	}
	// The values are at their limits, not over: Scope accepts them.
	if _, err := Scope(auth.Principal{AllApps: true}, requestOf(search)); err != nil {
		t.Fatalf("the request is not valid: %v", err)
	}
	for _, m := range []proto.Message{search, stats} {
		if n := proto.Size(m); n > MaxRequestBytes {
			t.Errorf("a valid %T encodes to %d bytes, over MaxRequestBytes %d", m, n, MaxRequestBytes)
		} else {
			t.Logf("largest valid %T: %d bytes of %d", m, n, MaxRequestBytes)
		}
	}
}
