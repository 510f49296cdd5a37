package eventdoc

import (
	"strings"
	"testing"
	"time"
)

func TestIndexName(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC), "p-2026.11.26"},
		{time.Date(2026, 11, 27, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "p-2026.11.26"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "p-2027.01.01"},
	}
	for _, tt := range tests {
		if got := IndexName("p", tt.t); got != tt.want {
			t.Errorf("IndexName(%v) = %s, want %s", tt.t, got, tt.want)
		}
	}
	// Every day of 1900–2200, and the years at and beyond four digits,
	// named as time.Format names them.
	days := []time.Time{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(7, 3, 4, 0, 0, 0, 0, time.UTC)}
	for d := time.Date(1900, 1, 1, 12, 0, 0, 0, time.UTC); d.Year() <= 2200; d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	for _, d := range days {
		if got, want := IndexName("events", d), "events-"+d.Format("2006.01.02"); got != want {
			t.Fatalf("IndexName(%v) = %s, want %s", d, got, want)
		}
	}
}

func BenchmarkIndexName(b *testing.B) {
	t := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		_ = IndexName("telemetry-events", t)
	}
}

func TestIDIsStableAndSeparatesApps(t *testing.T) {
	if ID("a", "e") != ID("a", "e") {
		t.Fatal("not stable")
	}
	for _, pair := range [][2][2]string{
		{{"a", "e"}, {"b", "e"}},
		{{"ab", "c"}, {"a", "bc"}},
	} {
		if ID(pair[0][0], pair[0][1]) == ID(pair[1][0], pair[1][1]) {
			t.Errorf("%v and %v share an id", pair[0], pair[1])
		}
	}
	if n := len(ID("a", "e")); n != 22 {
		t.Errorf("id length %d", n)
	}
}

func TestDayOf(t *testing.T) {
	tests := []struct {
		index string
		ok    bool
		want  time.Time
	}{
		{"p-2026.11.26", true, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{"p-2026.13.26", false, time.Time{}},
		{"q-2026.11.26", false, time.Time{}},
		{"p-2026.11.26-x", false, time.Time{}},
		{"deadletter-p", false, time.Time{}},
	}
	for _, tt := range tests {
		got, ok := DayOf("p", tt.index)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("DayOf(%s) = %v %v", tt.index, got, ok)
		}
	}
}

func TestAuditIndices(t *testing.T) {
	day := time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC)
	if got := AuditIndex("p", day); got != "audit-p-2026.11.26" {
		t.Errorf("AuditIndex = %s", got)
	}
	if got := AuditPattern("p"); got != "audit-p-*" {
		t.Errorf("AuditPattern = %s", got)
	}
	tests := []struct {
		index string
		ok    bool
	}{
		{"audit-p-2026.11.26", true},
		{"p-2026.11.26", false},         // an event index
		{"audit-p", false},              // the single index of earlier versions
		{"audit-p-x-2026.11.26", false}, // another prefix's (p-x) audit index
		{"audit-p-2026.11.26-x", false},
		{"audit-q-2026.11.26", false},
	}
	for _, tt := range tests {
		got, ok := AuditDayOf("p", tt.index)
		if ok != tt.ok || (ok && !got.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))) {
			t.Errorf("AuditDayOf(%s) = %v %v, want ok=%v", tt.index, got, ok, tt.ok)
		}
	}
}

// TestDeadLetterIndex: dead letters live in daily indices of their own
// prefix, which the events pattern never matches, and whose day DayOf reads.
func TestDeadLetterIndex(t *testing.T) {
	at := time.Date(2026, 11, 26, 23, 30, 0, 0, time.FixedZone("X", -3600))
	index := DeadLetterIndex("p", at)
	if index != "deadletter-p-2026.11.27" || DeadLetterPattern("p") != "deadletter-p-*" {
		t.Fatalf("index %s, pattern %s", index, DeadLetterPattern("p"))
	}
	if day, ok := DayOf(DeadLetterPrefix("p"), index); !ok || !day.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("DayOf(%s) = %v %v", index, day, ok)
	}
	if _, ok := DayOf("p", index); ok || strings.HasPrefix(index, "p-") {
		t.Fatalf("%s would be taken for an event index of p", index)
	}
}

// TestExpired: a day's index expires once the day ended more than keep
// ago, by the date in its name alone; never with keep 0, never another
// prefix's or a non-daily name.
func TestExpired(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	tests := []struct {
		index string
		keep  time.Duration
		want  bool
	}{
		{"p-2026.11.18", week, true},    // ended 7.5 days ago
		{"p-2026.11.19", week, false},   // ended 6.5 days ago
		{"p-2026.11.18", 0, false},      // keep for ever
		{"p-x-2026.11.01", week, false}, // prefix p-x's
		{"p", week, false},
		{"deadletter-p-2026.01.01", week, false},
	}
	for _, tt := range tests {
		if got := Expired("p", tt.index, tt.keep, now); got != tt.want {
			t.Errorf("Expired(p, %s, %v) = %v, want %v", tt.index, tt.keep, got, tt.want)
		}
	}
	// More than keep: a day that ended exactly keep ago is kept.
	if Expired("p", "p-2026.11.18", week, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a day that ended exactly a week ago expired with a week's retention")
	}
}
