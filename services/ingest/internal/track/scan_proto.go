package track

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// protoShape is what a pass over protobuf wire bytes found.
type protoShape struct {
	events  int // telemetry.v1.EventBatch.events
	entries int // metadata entries of every event
	maps    int // events with at least one metadata entry
}

// Field numbers read by the shape pass (contracts/proto/telemetry).
const (
	trackRequestBatch  protowire.Number = 1 // telemetry.ingest.v1.TrackRequest.batch
	eventBatchEvents   protowire.Number = 7 // telemetry.v1.EventBatch.events
	eventMetadataField protowire.Number = 9 // telemetry.v1.Event.metadata
)

// scanTrackRequest counts the events and metadata entries of a
// telemetry.ingest.v1.TrackRequest without decoding it. A repeated batch
// field is merged by protobuf, so every occurrence counts.
func scanTrackRequest(b []byte, lim Limits) (protoShape, error) {
	var shape protoShape
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != trackRequestBatch || typ != protowire.BytesType {
			return nil
		}
		return scanEventBatch(v, lim, &shape)
	})
	return shape, err
}

// scanEventBatch adds the events and metadata entries of an encoded
// telemetry.v1.EventBatch to shape, failing as soon as a bound is passed:
// more than MaxEvents events, or more metadata entries than MaxEvents full
// events may carry (a single event over MaxMetadataKeys is still reported
// against that event by validation).
func scanEventBatch(b []byte, lim Limits, shape *protoShape) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != eventBatchEvents || typ != protowire.BytesType {
			return nil
		}
		shape.events++
		if shape.events > lim.MaxEvents {
			return &Error{Kind: KindTooLarge, Code: "too_many_events",
				Message: fmt.Sprintf("more than %d events in one batch; at most %d", lim.MaxEvents, lim.MaxEvents)}
		}
		entries := shape.entries
		return eachField(v, func(num protowire.Number, typ protowire.Type, _ []byte) error {
			if num != eventMetadataField || typ != protowire.BytesType {
				return nil
			}
			if shape.entries == entries {
				shape.maps++
			}
			shape.entries++
			if max := lim.MaxEvents * lim.MaxMetadataKeys; shape.entries > max {
				return &Error{Kind: KindTooLarge, Code: "too_many_values",
					Message: fmt.Sprintf("more than %d metadata entries in one batch; at most %d keys for each of at most %d events",
						max, lim.MaxMetadataKeys, lim.MaxEvents)}
			}
			return nil
		})
	})
}

// eachField calls fn with every field of one message level; bytes fields
// carry their payload, other types none.
func eachField(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return invalidProto(protowire.ParseError(n))
		}
		b = b[n:]
		var payload []byte
		if typ == protowire.BytesType {
			payload, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return invalidProto(protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, payload); err != nil {
			return err
		}
	}
	return nil
}

func invalidProto(err error) error {
	return &Error{Kind: KindInvalid, Code: "invalid_protobuf", Message: "the body is not valid protobuf: " + truncate(err.Error(), 200)}
}
