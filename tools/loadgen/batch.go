// Package loadgen generates realistic /v1/track traffic and measures it.
package loadgen

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// idWidth is the fixed width of generated event ids, so a rendered batch can
// be reused by patching ids in place instead of rendering JSON per request.
const idWidth = 20

// idSep ends the run id inside an event id, so that no run's ids start with
// another run's prefix ("ab" + "12" and "ab1" + "2" would both be "ab12").
const idSep = "."

// Traffic describes what batches look like.
type Traffic struct {
	BatchSize   int
	Users       int
	InvalidRate float64 // share of events made invalid on purpose
	RunID       string  // prefix of every event id, to find them later
	Format      string  // FormatTrack or FormatSegment
}

var eventNames = []string{ // skewed: earlier names are far more common
	"screen_view", "screen_view", "screen_view", "tap", "tap", "scroll", "app_open", "app_background",
	"search", "add_to_cart", "purchase", "login", "share", "push_open", "error",
}

var screens = []string{"home", "search", "product", "cart", "checkout", "profile", "settings"}
var oses = []string{"iOS 18.1", "iOS 17.6", "iOS 18.0", "iPadOS 18.1"}
var versions = []string{"4.2.0", "4.1.3", "4.1.2", "3.9.9"}

// Template is one rendered batch with the byte offsets of its event ids.
type Template struct {
	Body      []byte
	idAt      []int
	invalidAt []int // positions of the events made invalid on purpose
}

// Formats of a rendered batch.
const (
	FormatTrack   = ""        // our /v1/track JSON array
	FormatSegment = "segment" // a Segment batch for /v1/batch: {"batch": [...], "sentAt"}
)

// event is one generated event's values, drawn before it is rendered so
// that both formats carry the same events for the same draws.
type event struct {
	user, session         int
	name, ts, version, os string
	screen                string
	build                 int
	dark                  bool
}

// Render builds a batch of t.BatchSize events of about 300 bytes each, in
// t.Format. The same rng state gives the same events in either format.
func (t Traffic) Render(rng *rand.Rand, now time.Time) Template {
	tpl := Template{}
	events := make([]event, t.BatchSize)
	for i := range events {
		e := &events[i]
		e.user = rng.IntN(max(t.Users, 1))
		e.session = rng.IntN(20)
		e.name = eventNames[rng.IntN(len(eventNames))]
		e.ts = now.Add(-time.Duration(rng.IntN(5000)) * time.Millisecond).UTC().Format(time.RFC3339Nano)
		if rng.Float64() < t.InvalidRate {
			e.ts = "not-a-timestamp"
			tpl.invalidAt = append(tpl.invalidAt, i)
		}
		e.version, e.os = versions[rng.IntN(len(versions))], oses[rng.IntN(len(oses))]
		e.screen, e.build, e.dark = screens[rng.IntN(len(screens))], 1000+rng.IntN(50), rng.IntN(2) == 0
	}
	var b bytes.Buffer
	if t.Format == FormatSegment {
		b.WriteString(`{"batch":[`)
	} else {
		b.WriteByte('[')
	}
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		if t.Format == FormatSegment {
			// The same values where Segment's SDKs put them: the session
			// and the message, which Segment has no field for, as properties.
			osName, osVersion, _ := strings.Cut(e.os, " ")
			b.WriteString(`{"type":"track","messageId":"`)
			tpl.idAt = append(tpl.idAt, b.Len())
			b.Write(bytes.Repeat([]byte{'0'}, idWidth))
			fmt.Fprintf(&b, `","userId":"user-%d","event":"%s","timestamp":"%s",`, e.user, e.name, e.ts)
			fmt.Fprintf(&b, `"properties":{"screen":"%s","build":%d,"dark_mode":%t,"network":"wifi","locale":"en_US","session_id":"sess-%d-%d","message":"user interaction recorded by the mobile sdk"},`,
				e.screen, e.build, e.dark, e.user, e.session)
			fmt.Fprintf(&b, `"context":{"app":{"version":"%s"},"os":{"name":"%s","version":"%s"}}}`, e.version, osName, osVersion)
			continue
		}
		b.WriteString(`{"event_id":"`)
		tpl.idAt = append(tpl.idAt, b.Len())
		b.Write(bytes.Repeat([]byte{'0'}, idWidth))
		fmt.Fprintf(&b, `","user_id":"user-%d","session_id":"sess-%d-%d","event_name":"%s",`, e.user, e.user, e.session, e.name)
		fmt.Fprintf(&b, `"client_timestamp":"%s","app_version":"%s","device_os":"%s",`, e.ts, e.version, e.os)
		fmt.Fprintf(&b, `"metadata":{"screen":"%s","build":%d,"dark_mode":%t,"network":"wifi","locale":"en_US"},`, e.screen, e.build, e.dark)
		b.WriteString(`"message":"user interaction recorded by the mobile sdk"}`)
	}
	if t.Format == FormatSegment {
		fmt.Fprintf(&b, `],"sentAt":"%s"}`, now.UTC().Format(time.RFC3339Nano))
	} else {
		b.WriteByte(']')
	}
	tpl.Body = b.Bytes()
	return tpl
}

// IDs hands out unique event ids: the run id, a dot and a counter (the event
// number), padded with '-' to idWidth. Number parses one back, so a run's
// ids can be kept as a set of numbers.
type IDs struct {
	prefix string
	next   atomic.Uint64
}

// NewIDs returns ids starting with runID (at most 8 characters are used,
// which leaves 11 digits for the counter).
func NewIDs(runID string) *IDs {
	if len(runID) > 8 {
		runID = runID[:8]
	}
	return &IDs{prefix: runID}
}

// Fill writes len(tpl.idAt) fresh ids into a copy of tpl.Body and returns it
// with the first id (ids of one batch are consecutive).
func (ids *IDs) Fill(tpl Template, dst []byte) ([]byte, uint64) {
	dst = append(dst[:0], tpl.Body...)
	n := uint64(len(tpl.idAt))
	first := ids.next.Add(n) - n
	var buf [idWidth]byte
	for i, at := range tpl.idAt {
		id := buf[:0]
		id = append(id, ids.prefix...)
		id = append(id, idSep...)
		id = strconv.AppendUint(id, first+uint64(i), 10)
		for len(id) < idWidth {
			id = append(id, '-')
		}
		copy(dst[at:at+idWidth], id[:idWidth])
	}
	return dst, first
}

// EventID renders the id Fill gave to event number n.
func (ids *IDs) EventID(n uint64) string {
	id := ids.prefix + idSep + strconv.FormatUint(n, 10)
	for len(id) < idWidth {
		id += "-"
	}
	return id[:idWidth]
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}
