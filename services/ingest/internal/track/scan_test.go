package track

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

func TestJSONScanner(t *testing.T) {
	lim := ShapeLimits{MaxEvents: 3, MaxTokens: 40}
	tests := []struct {
		name       string
		body       string
		wantCode   string // "" if within the limits
		wantEvents int
	}{
		{"array at the limit", `[{},{},{}]`, "", 3},
		{"array over the limit", `[{},{},{},{}]`, "too_many_events", 4},
		{"empty array", `[ ]`, "", 0},
		{"scalars count as events", `[1,"a",null,true]`, "too_many_events", 4},
		{"commas inside strings do not count", `[{"a":",,,,"},"[[[,"]`, "", 2},
		{"escaped quotes stay in the string", `["a\",\",\",", "b"]`, "", 2},
		{"nested arrays are not events", `[[1,2,3,4,5],[1]]`, "", 2},
		{"envelope", `{"sent_at":"x","events":[{},{},{}]}`, "", 3},
		{"envelope over the limit", `{"events":[{},{},{},{}]}`, "too_many_events", 4},
		{"escaped key still counts", `{"ev\u0065nts":[{},{},{},{}]}`, "too_many_events", 4},
		{"every top-level array counts", `{"x":[1,2],"events":[{},{}]}`, "too_many_events", 4},
		{"arrays deeper in the envelope do not", `{"meta":{"a":[1,2,3,4,5]},"events":[{}]}`, "", 1},
		{"too many values", `[{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"s":19,"t":20,"u":21}]`, "too_many_values", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte at a time: the state carries across chunks.
			for _, chunked := range []bool{false, true} {
				s := NewJSONScanner(lim)
				var err error
				if chunked {
					for i := 0; i < len(tt.body) && err == nil; i++ {
						_, err = s.Write([]byte{tt.body[i]})
					}
				} else {
					_, err = s.Write([]byte(tt.body))
				}
				code := ""
				if te, ok := AsError(err); ok {
					code = te.Code
				} else if err != nil {
					t.Fatalf("error is not a *track.Error: %v", err)
				}
				if code != tt.wantCode || (code != "too_many_values" && s.Events() != tt.wantEvents) {
					t.Errorf("chunked=%v: code %q events %d, want %q %d", chunked, code, s.Events(), tt.wantCode, tt.wantEvents)
				}
			}
		})
	}
}

// A body of a million tiny elements is refused after MaxEvents+1 of them,
// before the parser sees it, and names the limit.
func TestDecodeJSONManyTinyElements(t *testing.T) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat("{},", 350_000), ",") + "]")
	for _, envelope := range []bool{false, true} {
		b := body
		if envelope {
			b = []byte(`{"events":` + string(body) + `}`)
		}
		_, err := decodeJSON(b)
		te, ok := AsError(err)
		if !ok || te.Kind != KindTooLarge || te.Code != "too_many_events" || !strings.Contains(te.Message, "at most 1000") {
			t.Fatalf("envelope=%v: got %v", envelope, err)
		}
	}
}

func TestDecodeProtoShape(t *testing.T) {
	lim := Limits{MaxEvents: 3, MaxMetadataKeys: 2, MaxEventBytes: 1 << 10}
	events := func(n, keys int) []*telemetryv1.Event {
		out := make([]*telemetryv1.Event, n)
		for i := range out {
			out[i] = &telemetryv1.Event{EventId: "e", Metadata: map[string]string{}}
			for k := range keys {
				out[i].Metadata[strings.Repeat("k", k+1)] = "v"
			}
		}
		return out
	}
	batch := func(n, keys int) []byte {
		b, _ := proto.Marshal(&telemetryv1.EventBatch{Events: events(n, keys)})
		return b
	}
	track := func(n, keys int) []byte {
		b, _ := proto.Marshal(&ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: events(n, keys)}})
		return b
	}
	// A repeated batch field is merged by protobuf: both halves count.
	twice := append(track(2, 0), track(2, 0)...)
	tests := []struct {
		name       string
		body       []byte
		grpc       bool
		wantCode   string
		wantEvents int
	}{
		{"batch at the limit", batch(3, 2), false, "", 3},
		{"batch over the event limit", batch(4, 0), false, "too_many_events", 0},
		{"one event over its key limit is the event's problem", batch(1, 5), false, "", 1},
		{"metadata entries over what the batch may carry", batch(3, 3), false, "too_many_values", 0},
		{"track request at the limit", track(3, 0), true, "", 3},
		{"track request over the limit", track(4, 0), true, "too_many_events", 0},
		{"batch field repeated", twice, true, "too_many_events", 0},
		{"not protobuf", []byte{0xff, 0xff, 0xff}, false, "invalid_protobuf", 0},
		{"truncated", batch(2, 1)[:7], false, "invalid_protobuf", 0},
	}
	d := NewDecoder(lim, NewBudget(1<<20))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decode := d.Proto
			if tt.grpc {
				decode = d.TrackRequest
			}
			req, release, err := decode(tt.body)
			code := ""
			if te, ok := AsError(err); ok {
				code = te.Code
			} else if err != nil {
				t.Fatalf("error is not a *track.Error: %v", err)
			}
			if code != tt.wantCode || len(req.Events) != tt.wantEvents {
				t.Fatalf("code %q, %d events; want %q, %d", code, len(req.Events), tt.wantCode, tt.wantEvents)
			}
			if err == nil {
				release()
			}
		})
	}
}

// What a request decodes into is charged to the budget and returned by
// release; a request that does not fit is refused, not decoded.
func TestDecoderChargesBudget(t *testing.T) {
	body := []byte(`[{"event_id":"a","user_id":"u","event_name":"e","client_timestamp":"2026-11-26T10:00:00Z"}]`)
	budget := NewBudget(1 << 20)
	d := NewDecoder(testLimits(), budget)
	_, release, err := d.JSON(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := budget.Take(1 << 20); err == nil {
		t.Fatal("the whole budget was free while a decoded request held part of it")
	}
	release()
	r, err := budget.Take(1 << 20)
	if err != nil {
		t.Fatalf("release did not return the charge: %v", err)
	}
	_, _, err = d.JSON(body)
	if te, ok := AsError(err); !ok || te.Kind != KindOverloaded {
		t.Fatalf("decoding with no budget left: %v, want KindOverloaded", err)
	}
	r()
}

func FuzzDecodeProto(f *testing.F) {
	for _, b := range []*telemetryv1.EventBatch{
		{Events: []*telemetryv1.Event{{EventId: "a", UserId: "u", EventName: "x", Metadata: map[string]string{"k": "v"}}}},
		{BatchId: "b", Events: make([]*telemetryv1.Event, 3)},
		{},
	} {
		raw, _ := proto.Marshal(b)
		f.Add(raw, false)
		tr, _ := proto.Marshal(&ingestv1.TrackRequest{Batch: b})
		f.Add(tr, true)
	}
	f.Add([]byte{0x3a, 0x00, 0x3a, 0x00}, false)
	f.Add([]byte{0x0a, 0x80, 0x80, 0x80, 0x80, 0x10}, true)
	lim := Limits{MaxEvents: 50, MaxMetadataKeys: 10, MaxEventBytes: 4 << 10}
	d := NewDecoder(lim, NewBudget(64<<20))
	f.Fuzz(func(t *testing.T, body []byte, grpc bool) {
		decode := d.Proto
		if grpc {
			decode = d.TrackRequest
		}
		req, release, err := decode(body)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error is not a *track.Error: %v", err)
			}
			return
		}
		defer release()
		if len(req.Events) > lim.MaxEvents {
			t.Fatalf("%d events decoded; the limit is %d", len(req.Events), lim.MaxEvents)
		}
		entries := 0
		for i := range req.Events {
			entries += len(req.Events[i].Event.Metadata)
		}
		if entries > lim.MaxEvents*lim.MaxMetadataKeys {
			t.Fatalf("%d metadata entries decoded", entries)
		}
		events, res := Validate(req.Events, lim)
		if res.Accepted+res.Rejected+res.Duplicates != len(req.Events) || res.Accepted != len(events) {
			t.Fatalf("counts %+v do not cover %d events", res, len(req.Events))
		}
	})
}

// TestDecodeProtoKnownFieldWithAnotherWireType: a known field sent with
// another wire type is kept as an unknown field, as proto.Unmarshal keeps
// it, not a reason to refuse the whole batch (the generated decoder, used
// first for its handling of strings that are not UTF-8, refuses it).
func TestDecodeProtoKnownFieldWithAnotherWireType(t *testing.T) {
	// An EventBatch (events = 7) of one Event whose event_id (field 1) is
	// a varint, then a valid session_id (field 4).
	event := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)
	event = protowire.AppendString(protowire.AppendTag(event, 4, protowire.BytesType), "e")
	body := protowire.AppendBytes(protowire.AppendTag(nil, 7, protowire.BytesType), event)
	req, release, err := NewDecoder(testLimits(), nil).Proto(body)
	if err != nil {
		t.Fatalf("the batch was refused: %v", err)
	}
	release()
	if len(req.Events) != 1 || req.Events[0].Event.SessionId != "e" || req.Events[0].Event.EventId != "" {
		t.Fatalf("events %+v; want one, its session_id read and its event_id left out", req.Events)
	}
}
