package http

import (
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies, err := parseTrustedProxies([]string{"10.0.0.0/8", "192.168.1.1", " "})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted trustedProxies
		peer    string
		xff     string
		want    string
	}{
		{"no proxies configured: socket address", nil, "203.0.113.9", "1.2.3.4", "203.0.113.9"},
		{"untrusted peer: header ignored", proxies, "203.0.113.9", "1.2.3.4", "203.0.113.9"},
		{"trusted peer: client from header", proxies, "10.1.2.3", "198.51.100.7", "198.51.100.7"},
		{"spoofed left entry ignored", proxies, "10.1.2.3", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"chain of trusted proxies", proxies, "10.1.2.3", "198.51.100.7, 192.168.1.1, 10.9.9.9", "198.51.100.7"},
		{"all hops trusted: last proxy", proxies, "10.1.2.3", "10.2.2.2", "10.2.2.2"},
		{"malformed hop: stop there", proxies, "10.1.2.3", "198.51.100.7, garbage", "10.1.2.3"},
		{"trusted peer without header", proxies, "10.1.2.3", "", "10.1.2.3"},
		{"ipv4-mapped ipv6 peer", proxies, "::ffff:10.1.2.3", "2001:db8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.trusted.clientIP(netip.MustParseAddr(tt.peer), tt.xff); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := parseTrustedProxies([]string{"not-an-ip"}); err == nil {
		t.Fatal("bad proxy accepted")
	}
}
