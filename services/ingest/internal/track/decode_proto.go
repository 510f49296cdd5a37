package track

import (
	"fmt"
	"time"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/proto"
)

// Proto parses an application/x-protobuf body: a telemetry.v1.EventBatch of
// which only the events and sent_at are read. Call release when the Request
// is no longer used.
func (d *Decoder) Proto(body []byte) (Request, func(), error) {
	var shape protoShape
	if err := scanEventBatch(body, d.lim, &shape); err != nil {
		return Request{}, nil, err
	}
	release, err := d.take(d.protoBytes(len(body), shape))
	if err != nil {
		return Request{}, nil, err
	}
	var b telemetryv1.EventBatch
	if err := unmarshal(body, &b); err != nil {
		release()
		return Request{}, nil, &Error{Kind: KindInvalid, Code: "invalid_protobuf",
			Message: "the body is not a telemetry.v1.EventBatch: " + truncate(err.Error(), 200)}
	}
	return fromBatchHolding(&b, release)
}

// TrackRequest parses the message of an IngestService/Track call: a
// telemetry.ingest.v1.TrackRequest. Call release when the Request is no
// longer used.
func (d *Decoder) TrackRequest(body []byte) (Request, func(), error) {
	shape, err := scanTrackRequest(body, d.lim)
	if err != nil {
		return Request{}, nil, err
	}
	release, err := d.take(d.protoBytes(len(body), shape))
	if err != nil {
		return Request{}, nil, err
	}
	var r ingestv1.TrackRequest
	if err := unmarshal(body, &r); err != nil {
		release()
		return Request{}, nil, &Error{Kind: KindInvalid, Code: "invalid_protobuf",
			Message: "the message is not a telemetry.ingest.v1.TrackRequest: " + truncate(err.Error(), 200)}
	}
	return fromBatchHolding(r.GetBatch(), release)
}

// fromBatchHolding is FromBatch for a batch whose decoding holds budget:
// release is handed on with the request, or called at once when the batch
// is refused.
func fromBatchHolding(b *telemetryv1.EventBatch, release func()) (Request, func(), error) {
	req, err := FromBatch(b)
	if err != nil {
		release()
		return Request{}, nil, err
	}
	return req, release, nil
}

// unmarshal decodes body into m with its generated decoder, which reads a
// string that is not UTF-8 as it is (Validate then rejects that event
// alone: proto.Unmarshal refused the whole message, the valid events with
// it); a message that decoder refuses for any other reason (a known field
// sent with another wire type, which proto.Unmarshal keeps as an unknown
// field) is read by proto.Unmarshal, as before.
func unmarshal(body []byte, m interface {
	proto.Message
	UnmarshalVT([]byte) error
}) error {
	if m.UnmarshalVT(body) == nil {
		return nil
	}
	proto.Reset(m)
	return proto.Unmarshal(body, m)
}

// protoBytes is what decoding a message of n bytes with shape allocates: its
// strings, the events twice (decoded, then as Inputs) and the metadata maps,
// which protobuf grows entry by entry (TestChargeCoversWhatDecodingAllocates).
func (d *Decoder) protoBytes(n int, shape protoShape) int64 {
	return int64(n) + int64(shape.events)*2*eventBytes + int64(shape.maps)*protoMapBytes + int64(shape.entries)*protoEntryBytes
}

// What a metadata map decoded from protobuf allocates: for the map, and for
// each entry (its two strings, its slot and its share of the map's growth).
const (
	protoMapBytes   = 512
	protoEntryBytes = 192
)

// FromBatch turns a protobuf batch (HTTP protobuf body or gRPC) into the
// request every path validates the same way; a sent_at outside the years 1
// to 9999 fails the whole batch, as an unreadable one does in JSON.
func FromBatch(b *telemetryv1.EventBatch) (Request, error) {
	req := Request{Events: make([]Input, len(b.GetEvents()))}
	if sa := b.GetSentAt(); sa != nil {
		if err := sa.CheckValid(); err != nil {
			return Request{}, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sent_at": invalid timestamp: %v`, err)}
		}
		req.SentAt = sa.AsTime()
	}
	for i, e := range b.GetEvents() {
		in := &req.Events[i]
		copyClientFields(&in.Event, e)
		if ts := e.GetClientTimestamp(); ts != nil {
			if err := ts.CheckValid(); err != nil {
				in.decodeErr = &EventError{Index: i, EventID: e.EventId, Field: "client_timestamp", Message: fmt.Sprintf("invalid timestamp: %v", err)}
				continue
			}
			in.ClientTimestamp = ts.AsTime().Format(time.RFC3339Nano)
		}
		in.size = stringBytes(e) + len(in.ClientTimestamp)
		for k, v := range e.Metadata {
			in.size += len(k) + len(v)
		}
	}
	return req, nil
}
