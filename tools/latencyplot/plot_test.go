package latencyplot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name    string
		series  []Series
		wantErr bool
	}{
		{"two series", []Series{
			{"ingest", []Point{{300000, 0.6, 5.5}, {150000, 0.9, 2.5}}},
			{"naive", []Point{{100000, 1.4, 5.6}}},
		}, false},
		{"nothing measured", []Series{{"ingest", []Point{{0, 0, 0}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "plot.png")
			err := Write(out, tt.series)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			b, err := os.ReadFile(out)
			if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Fatalf("not a PNG: %v", err)
			}
		})
	}
}
