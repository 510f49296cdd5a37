package track

import (
	"fmt"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/proto"
)

// DecodeProto parses an application/x-protobuf body: a telemetry.v1.EventBatch
// of which only the events and sent_at are read.
func DecodeProto(body []byte) (Request, error) {
	var b telemetryv1.EventBatch
	if err := proto.Unmarshal(body, &b); err != nil {
		return Request{}, &Error{Kind: KindInvalid, Code: "invalid_protobuf",
			Message: "the body is not a telemetry.v1.EventBatch: " + truncate(err.Error(), 200)}
	}
	return FromBatch(&b), nil
}

// FromBatch turns a protobuf batch (HTTP protobuf body or gRPC) into the
// request every path validates the same way.
func FromBatch(b *telemetryv1.EventBatch) Request {
	req := Request{Events: make([]Input, len(b.GetEvents()))}
	if b.GetSentAt() != nil {
		req.SentAt = b.GetSentAt().AsTime()
	}
	for i, e := range b.GetEvents() {
		in := &req.Events[i]
		ev := &in.Event
		ev.EventId, ev.UserId, ev.AnonymousId, ev.SessionId = e.EventId, e.UserId, e.AnonymousId, e.SessionId
		ev.EventName, ev.AppVersion, ev.DeviceOs = e.EventName, e.AppVersion, e.DeviceOs
		ev.Metadata, ev.Message = e.Metadata, e.Message
		if ts := e.GetClientTimestamp(); ts != nil {
			if err := ts.CheckValid(); err != nil {
				in.decodeErr = &EventError{Index: i, EventID: e.EventId, Field: "client_timestamp", Message: fmt.Sprintf("invalid timestamp: %v", err)}
				continue
			}
			in.ClientTimestamp = ts.AsTime().Format(time.RFC3339Nano)
		}
		in.size = len(e.EventId) + len(e.UserId) + len(e.AnonymousId) + len(e.SessionId) + len(e.EventName) +
			len(in.ClientTimestamp) + len(e.AppVersion) + len(e.DeviceOs) + len(e.Message)
		for k, v := range e.Metadata {
			in.size += len(k) + len(v)
		}
	}
	return req
}
