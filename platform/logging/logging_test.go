package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestTraceIDsOnLinesInsideASpan(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "svc")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled,
	})
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "inside")
	log.InfoContext(context.Background(), "outside")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines", len(lines))
	}
	var in, out map[string]any
	if err := json.Unmarshal(lines[0], &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &out); err != nil {
		t.Fatal(err)
	}
	if in["trace_id"] != sc.TraceID().String() || in["span_id"] != sc.SpanID().String() || in["service"] != "svc" {
		t.Errorf("inside line = %v", in)
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("outside line has a trace_id: %v", out)
	}
}

func TestBadLevel(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "loud", "svc"); err == nil {
		t.Fatal("want an error for an unknown level")
	}
}
