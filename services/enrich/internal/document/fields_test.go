package document

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// TestEveryEventFieldReachesTheDocument: an event with every field of
// telemetry.v1.Event set (found by reflection, so a new field is covered
// without editing this test) yields a document holding each field the
// StoredEvent keeps under the same name.
func TestEveryEventFieldReachesTheDocument(t *testing.T) {
	e := &telemetryv1.Event{}
	m := e.ProtoReflect()
	fields := m.Descriptor().Fields()
	now := time.Now().UTC()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.IsMap():
			m.Mutable(f).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("v"))
		case f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString("v-"+string(f.Name())))
		case f.Kind() == protoreflect.MessageKind && f.Message().FullName() == "google.protobuf.Timestamp":
			m.Set(f, protoreflect.ValueOfMessage(timestamppb.New(now).ProtoReflect()))
		default:
			t.Fatalf("telemetry.v1.Event.%s is a %s: extend the document builder and this test", f.Name(), f.Kind())
		}
	}
	batch := &telemetryv1.EventBatch{BatchId: "b", AppId: "app", ReceivedAt: timestamppb.New(now), Events: []*telemetryv1.Event{e}}
	docs, err := NewBuilder("p", nil, testPlacement).Build(batch, now)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(docs[0].Body, &doc); err != nil {
		t.Fatal(err)
	}
	stored := (&telemetryv1.StoredEvent{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		name := fields.Get(i).Name()
		if stored.ByName(name) == nil {
			continue // not kept under this name (none today)
		}
		if v, ok := doc[string(name)]; !ok || v == "" {
			t.Errorf("event field %s is not in the document %s", name, docs[0].Body)
		}
	}
}
