package opensearch

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// TestStoredCoversEveryDocField: a document with every field set (by
// reflection) becomes a StoredEvent with every document field set.
func TestStoredCoversEveryDocField(t *testing.T) {
	var s eventdoc.Source
	v := reflect.ValueOf(&s).Elem()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i := range v.NumField() {
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			*p = "v"
		case *bool:
			*p = true
		case **int64:
			n := int64(7)
			*p = &n
		case *time.Time:
			*p = at
		case **time.Time:
			*p = &at
		case *map[string]string:
			*p = map[string]string{"k": "v"}
		case *[]string:
			// A text copy (FillTextCopies): never returned, no StoredEvent field.
		default:
			t.Fatalf("eventdoc.Source.%s has a type this test does not fill", v.Type().Field(i).Name)
		}
	}
	e := Stored(&s).ProtoReflect()
	fields := e.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		rule, _ := proto.GetExtension(f.Options(), telemetryv1.E_Doc).(*telemetryv1.DocRule)
		if rule.GetType() != telemetryv1.DocType_DOC_TYPE_UNSPECIFIED && !e.Has(f) {
			t.Errorf("StoredEvent.%s is a document field but Stored leaves it unset", f.Name())
		}
	}
	if !Stored(&s).HasClockSkew {
		t.Error("has_clock_skew not set with clock_skew_ms")
	}
}
