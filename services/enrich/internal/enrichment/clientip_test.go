package enrichment

import (
	"testing"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

func TestClientIP(t *testing.T) {
	tests := []struct {
		name string
		mode IPMode
		ip   string
		want string
	}{
		{"truncate IPv4", IPTruncate, "81.2.69.160", "81.2.69.0"},
		{"truncate IPv4 already .0", IPTruncate, "10.0.0.0", "10.0.0.0"},
		{"truncate IPv4-mapped IPv6", IPTruncate, "::ffff:81.2.69.160", "81.2.69.0"},
		{"truncate IPv6 keeps 48 bits", IPTruncate, "2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"},
		{"truncate IPv6 with a zone", IPTruncate, "fe80::1:2:3:4%eth0", "fe80::"},
		// 6to4: 2002:5102:45a0::/48 holds all of 81.2.69.160; its /24 is kept.
		{"truncate 6to4 keeps the embedded IPv4's /24", IPTruncate, "2002:5102:45a0::1", "2002:5102:4500::"},
		{"truncate loopback v6", IPTruncate, "::1", "::"},
		{"none keeps it", IPNone, "81.2.69.160", "81.2.69.160"},
		{"none canonical IPv6", IPNone, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		{"none unmaps", IPNone, "::ffff:81.2.69.160", "81.2.69.160"},
		{"drop", IPDrop, "81.2.69.160", ""},
		{"default is drop", "", "81.2.69.160", ""},
		{"empty", IPTruncate, "", ""},
		{"not an address", IPNone, "81.2.69.160, 10.0.0.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := NewClientIP(ClientIPConfig{Mode: tt.mode})
			var d eventdoc.Source
			if f := step.ForBatch(&telemetryv1.EventBatch{ClientIp: tt.ip}); f != nil {
				f(&telemetryv1.Event{}, &d)
			}
			if d.ClientIP != tt.want {
				t.Errorf("client_ip %q, want %q", d.ClientIP, tt.want)
			}
		})
	}
}

func TestParseIPMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want IPMode
		ok   bool
	}{
		{"none", IPNone, true}, {"truncate", IPTruncate, true}, {"drop", IPDrop, true},
		{"", "", false}, {"Truncate", "", false}, {"hash", "", false},
	} {
		got, err := ParseIPMode(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseIPMode(%q) = %q, %v", tt.in, got, err)
		}
	}
}
