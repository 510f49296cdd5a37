package loadgen

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// TestRenderFormatsCarryTheSameEvents: from the same draws, a /v1/track
// batch and a Segment batch hold the same events, field for field.
func TestRenderFormatsCarryTheSameEvents(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	track := Traffic{BatchSize: 50, Users: 100, InvalidRate: 0.1}.Render(rand.New(rand.NewPCG(1, 2)), now)
	seg := Traffic{BatchSize: 50, Users: 100, InvalidRate: 0.1, Format: FormatSegment}.Render(rand.New(rand.NewPCG(1, 2)), now)
	var ours []struct {
		UserID          string `json:"user_id"`
		SessionID       string `json:"session_id"`
		EventName       string `json:"event_name"`
		ClientTimestamp string `json:"client_timestamp"`
		AppVersion      string `json:"app_version"`
		DeviceOS        string `json:"device_os"`
		Metadata        map[string]any
	}
	var theirs struct {
		Batch []struct {
			Type, MessageID, UserID, Event, Timestamp string
			Properties                                map[string]any
			Context                                   struct {
				App struct{ Version string }
				OS  struct{ Name, Version string }
			}
		}
		SentAt string
	}
	if err := json.Unmarshal(track.Body, &ours); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(seg.Body, &theirs); err != nil {
		t.Fatal(err)
	}
	if len(ours) != 50 || len(theirs.Batch) != 50 || len(seg.idAt) != 50 || theirs.SentAt == "" || len(seg.invalidAt) != len(track.invalidAt) {
		t.Fatalf("%d and %d events, %d ids, sentAt %q", len(ours), len(theirs.Batch), len(seg.idAt), theirs.SentAt)
	}
	for i, o := range ours {
		s := theirs.Batch[i]
		if s.Type != "track" || s.UserID != o.UserID || s.Event != o.EventName || s.Timestamp != o.ClientTimestamp ||
			s.Context.App.Version != o.AppVersion || s.Context.OS.Name+" "+s.Context.OS.Version != o.DeviceOS ||
			s.Properties["session_id"] != o.SessionID || s.Properties["screen"] != o.Metadata["screen"] || s.Properties["build"] != o.Metadata["build"] {
			t.Fatalf("event %d differs: %+v vs %+v", i, s, o)
		}
	}
}
