package http

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

func gzipped(t *testing.T, members ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, m := range members {
		w := gzip.NewWriter(&b)
		if _, err := w.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// errAfter fails once it has been written more than n bytes.
type errAfter struct{ n, seen int }

func (e *errAfter) Write(p []byte) (int, error) {
	if e.seen += len(p); e.seen > e.n {
		return 0, errors.New("the check refused")
	}
	return len(p), nil
}

// TestDecompressorChargesWholeArrays: the inflated body is held in one
// array charged whole — sized from the gzip trailer when it is honest, so a
// body fits a budget of its own size, and grown (the new array charged
// before it is allocated) when it is not; a bomb whose trailer lies is cut
// off at the limit; nothing stays charged after a failure or a release.
func TestDecompressorChargesWholeArrays(t *testing.T) {
	const limit = 1 << 20
	mib := strings.Repeat(`{"event_id":"e","user_id":"u"},`, limit/31+1)[:limit]
	lying := gzipped(t, strings.Repeat("x", limit+1))
	copy(lying[len(lying)-4:], []byte{10, 0, 0, 0}) // ISIZE claims 10 bytes
	whole := gzipped(t, mib)
	tests := []struct {
		name     string
		body     []byte
		budget   int64
		check    *errAfter
		want     string
		wantCode string // a track.Error's code, "" for none
	}{
		{"honest 1 MiB in a budget of 1 MiB", gzipped(t, mib), limit, nil, mib, ""},
		{"empty", gzipped(t, ""), limit, nil, "", ""},
		{"two members: the trailer sizes the last only", gzipped(t, mib[:limit/2], mib[:1000]), 4 * limit, nil, mib[:limit/2] + mib[:1000], ""},
		{"a lying trailer over the limit", lying, 4 * limit, nil, "", "body_too_large"},
		{"truncated", whole[:len(whole)/2], 4 * limit, nil, "", "invalid_gzip"},
		{"the check refuses early", gzipped(t, mib), 4 * limit, &errAfter{n: 100 << 10}, "", "check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			budget := track.NewBudget(tt.budget)
			d := newDecompressor(limit, budget)
			var check *errAfter
			if tt.check != nil {
				check = tt.check
			}
			var out []byte
			var release func()
			var err error
			if check != nil {
				out, release, err = d.decode("gzip", tt.body, check)
			} else {
				out, release, err = d.decode("gzip", tt.body, nil)
			}
			switch {
			case tt.wantCode == "check":
				if err == nil || err.Error() != "the check refused" || check.seen > 2*chunk+100<<10 {
					t.Fatalf("err %v after %d bytes checked, want the check's refusal within a chunk", err, check.seen)
				}
			case tt.wantCode != "":
				if te, ok := track.AsError(err); !ok || te.Code != tt.wantCode {
					t.Fatalf("err %v, want %s", err, tt.wantCode)
				}
			default:
				if err != nil || string(out) != tt.want {
					t.Fatalf("err %v, %d bytes; want %d", err, len(out), len(tt.want))
				}
				// What is charged is the array held.
				if free, err := budget.Take(tt.budget - int64(cap(out))); err != nil {
					t.Fatalf("held %d bytes, but more is charged: %v", cap(out), err)
				} else {
					free()
				}
				if _, err := budget.Take(tt.budget - int64(cap(out)) + 1); err == nil && cap(out) > 0 {
					t.Fatalf("held %d bytes, but less is charged", cap(out))
				}
				release()
			}
			if free, err := budget.Take(tt.budget); err != nil {
				t.Fatalf("still charged after the end: %v", err)
			} else {
				free()
			}
		})
	}
}
