package bench

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/config"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		short   bool
		env     map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{"defaults", false, nil, func(c Config) bool {
			return c.Duration == 15*time.Second && c.Rounds == 3 && c.QueryEvents == 10000000 && !c.Short && !c.Write &&
				slices.Equal(c.IngestFractions, []float64{0.25, 0.5, 0.75})
		}, ""},
		{"short shrinks durations and data sets", true, nil, func(c Config) bool {
			return c.Short && c.Duration == 3*time.Second && c.QueryEvents == 20000 && c.Rounds == 3
		}, ""},
		{"the environment wins over short", true, map[string]string{"BENCH_DURATION": "7s"}, func(c Config) bool {
			return c.Duration == 7*time.Second && c.Short
		}, ""},
		{"write", false, map[string]string{"BENCH_WRITE": "1"}, func(c Config) bool { return c.Write }, ""},
		{"fractions", false, map[string]string{"BENCH_LAG_FRACTIONS": "0.5, 1,1.5", "BENCH_STREAM_FRACTION": "0.4"}, func(c Config) bool {
			return slices.Equal(c.LagFractions, []float64{0.5, 1, 1.5}) && c.StreamFraction == 0.4
		}, ""},
		{"a fixed write rate while busy", false, map[string]string{"BENCH_QUERY_WRITE_RATE": "10000"}, func(c Config) bool { return c.QueryWriteRate == 10000 }, ""},
		{"a negative write rate", false, map[string]string{"BENCH_QUERY_WRITE_RATE": "-1"}, nil, "BENCH_QUERY_WRITE_RATE"},
		{"enrich settings", false, map[string]string{"BENCH_ENRICH_SETTINGS": "ENRICH_WORKERS=2, ENRICH_FLUSH_INTERVAL=500ms"}, func(c Config) bool {
			return maps.Equal(c.EnrichSettings, map[string]string{"ENRICH_WORKERS": "2", "ENRICH_FLUSH_INTERVAL": "500ms"})
		}, ""},
		{"an enrich setting that is not enrich's", false, map[string]string{"BENCH_ENRICH_SETTINGS": "GOGC=off"}, nil, "BENCH_ENRICH_SETTINGS"},
		{"enrich's address is the bench's", false, map[string]string{"BENCH_ENRICH_SETTINGS": "ENRICH_HTTP_ADDR=:1"}, nil, "BENCH_ENRICH_SETTINGS"},
		{"sync interval", false, map[string]string{"BENCH_NATS_SYNC": "always"}, func(c Config) bool { return c.NATSSync == "always" }, ""},
		{"no smoke run into BENCHMARKS.md", true, map[string]string{"BENCH_WRITE": "1"}, nil, "BENCH_WRITE with -short"},
		{"a bad duration", false, map[string]string{"BENCH_DURATION": "fast"}, nil, "BENCH_DURATION"},
		{"a zero fraction", false, map[string]string{"BENCH_QUERY_FRACTION": "0"}, nil, "BENCH_QUERY_FRACTION"},
		{"a fraction list with garbage", false, map[string]string{"BENCH_INGEST_FRACTIONS": "0.25,half"}, nil, "BENCH_INGEST_FRACTIONS"},
		{"no rounds", false, map[string]string{"BENCH_ROUNDS": "0"}, nil, "BENCH_ROUNDS"},
		{"every mistake at once", false, map[string]string{"BENCH_ROUNDS": "0", "BENCH_BATCH": "x"}, nil, "BENCH_BATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(config.MapLookup(tt.env), tt.short)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// Every tunable is read by Load: setting it to garbage is an error that
// names it (a tunable listed but never read would pass silently).
func TestEveryTunableIsRead(t *testing.T) {
	for _, tu := range Tunables() {
		if tu.Name == "OPENSEARCH_HEAP" || tu.Name == "BENCH_NATS_SYNC" || tu.Name == "BENCH_BASELINE" { // free text (a revision is checked when the bench builds it)
			continue
		}
		t.Run(tu.Name, func(t *testing.T) {
			_, err := Load(config.MapLookup(map[string]string{tu.Name: "not-a-value"}), false)
			if err == nil || !strings.Contains(err.Error(), tu.Name) {
				t.Fatalf("err %v, want one naming %s", err, tu.Name)
			}
			if !strings.Contains(tu.Help, "(default ") && !strings.Contains(tu.Help, "(unset: ") {
				t.Errorf("help %q states no default, nor what unset means", tu.Help)
			}
		})
	}
}

func TestParts(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr bool
	}{
		{"none is all", nil, []string{"ingest", "segment", "stream", "pipeline", "query", "cost", "delete", "scaling"}, false},
		{"all", []string{"all"}, []string{"ingest", "segment", "stream", "pipeline", "query", "cost", "delete", "scaling"}, false},
		{"one", []string{"query"}, []string{"query"}, false},
		{"in the order they run", []string{"query", "ingest"}, []string{"ingest", "query"}, false},
		{"unknown", []string{"ingest", "everything"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parts(tt.args)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSubjectAndDayIndex(t *testing.T) {
	if got := subject("BENCH_JS_CEILING_2"); got != "bench.js.ceiling.2" {
		t.Errorf("subject %q", got)
	}
	if got := dayIndex("benchq-1", time.Date(2026, 12, 1, 23, 0, 0, 0, time.FixedZone("x", -3600))); got != "benchq-1-2026.12.02" {
		t.Errorf("day index %q: want the UTC day", got)
	}
}

func TestWriteNeedsEveryPart(t *testing.T) {
	all, err := Parts(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		write   bool
		parts   []string
		wantErr bool
	}{
		{"every part written", true, all, false},
		{"one part written", true, []string{"stream"}, true},
		{"one part, not written", false, []string{"stream"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkWrite(Config{Write: tt.write}, tt.parts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "summary.md") {
				t.Fatalf("err %v does not say where a single part's section is", err)
			}
		})
	}
}
