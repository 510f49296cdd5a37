package track

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// fullEvent sets every field of telemetry.v1.Event, found by reflection, so
// a field added to event.proto is covered here without editing the test;
// it also returns the same event as a client sends it in JSON.
func fullEvent(t *testing.T) (*telemetryv1.Event, map[string]any) {
	t.Helper()
	e := &telemetryv1.Event{}
	m := e.ProtoReflect()
	obj := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		name := string(f.Name())
		switch {
		case f.IsMap():
			mv := m.Mutable(f).Map()
			mv.Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("v-"+name))
			obj[name] = map[string]string{"k": "v-" + name}
		case f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString("v-"+name))
			obj[name] = "v-" + name
		case f.Kind() == protoreflect.MessageKind && f.Message().FullName() == "google.protobuf.Timestamp":
			at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
			m.Set(f, protoreflect.ValueOfMessage(timestamppb.New(at).ProtoReflect()))
			obj[name] = at.Format(time.RFC3339Nano)
		default:
			t.Fatalf("telemetry.v1.Event.%s is a %s: the ingest decoders and this test read only strings, string maps and timestamps", name, f.Kind())
		}
	}
	return e, obj
}

// TestEveryEventFieldIsRead: every field of telemetry.v1.Event sent in JSON
// or protobuf arrives in the event ingest publishes — the round trip that
// fails when a field is declared but a decoder site is not derived from it.
func TestEveryEventFieldIsRead(t *testing.T) {
	want, obj := fullEvent(t)
	body, err := json.Marshal([]any{obj})
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := decodeJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]Request{
		"json": fromJSON,
		"protobuf": func() Request {
			req, err := FromBatch(&telemetryv1.EventBatch{Events: []*telemetryv1.Event{want}})
			if err != nil {
				t.Fatal(err)
			}
			return req
		}(),
	} {
		events, res := Validate(req.Events, testLimits())
		if res.Accepted != 1 {
			t.Fatalf("%s: %+v", name, res)
		}
		if !proto.Equal(events[0], want) {
			t.Errorf("%s: read\n%v\nsent\n%v", name, events[0], want)
		}
	}
}
