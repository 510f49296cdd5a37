package testenv

import (
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// RawMessage is a gRPC request sent as the bytes it holds (with RawCodec),
// so a test can send what no well-behaved client would.
type RawMessage struct{ Bytes []byte }

// RawCodec sends a *RawMessage as it is and everything else as protobuf; use
// it with grpc.ForceCodecV2 on one call.
type RawCodec struct{}

// Marshal implements encoding.CodecV2.
func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*RawMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(r.Bytes)}, nil
	}
	return encoding.GetCodecV2(protoenc.Name).Marshal(v)
}

// Unmarshal implements encoding.CodecV2.
func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2(protoenc.Name).Unmarshal(data, v)
}

// Name implements encoding.CodecV2.
func (RawCodec) Name() string { return protoenc.Name }

// EmptyEventsTrackRequest is a telemetry.ingest.v1.TrackRequest (batch = 1)
// whose telemetry.v1.EventBatch holds nothing but empty events (events = 7)
// of two bytes each, about size bytes in all: the cheapest message that
// makes a decoder build one structure per two bytes.
func EmptyEventsTrackRequest(size int) []byte {
	var batch []byte
	for len(batch) < size-16 {
		batch = protowire.AppendTag(batch, 7, protowire.BytesType)
		batch = protowire.AppendVarint(batch, 0)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), batch)
}
