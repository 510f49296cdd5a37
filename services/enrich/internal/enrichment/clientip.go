package enrichment

import (
	"fmt"
	"net/netip"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// IPMode is how much of the client address a document keeps.
type IPMode string

const (
	// IPDrop keeps no address at all (the default).
	IPDrop IPMode = "drop"
	// IPTruncate keeps the network: an IPv4 address with its last octet
	// zeroed (/24), an IPv6 address with its last 80 bits zeroed (/48).
	IPTruncate IPMode = "truncate"
	// IPNone keeps the address in full: no anonymisation.
	IPNone IPMode = "none"
)

// ParseIPMode reads "none", "truncate" or "drop".
func ParseIPMode(s string) (IPMode, error) {
	switch m := IPMode(s); m {
	case IPDrop, IPTruncate, IPNone:
		return m, nil
	}
	return "", fmt.Errorf("%q: want none, truncate or drop", s)
}

// ClientIPConfig configures the client-address step.
type ClientIPConfig struct {
	Mode IPMode
}

// ClientIP writes the client address into client_ip as its mode allows. It
// runs after every step that reads the full address (geo), so the full
// address is used for the lookup and then never leaves the batch in memory.
type ClientIP struct {
	mode IPMode
}

// NewClientIP returns the step for cfg (an empty mode is IPDrop).
func NewClientIP(cfg ClientIPConfig) ClientIP {
	if cfg.Mode == "" {
		cfg.Mode = IPDrop
	}
	return ClientIP{mode: cfg.Mode}
}

// ForBatch implements Step.
func (c ClientIP) ForBatch(b *telemetryv1.EventBatch) func(*telemetryv1.Event, *eventdoc.Source) {
	ip := c.Anonymise(b.GetClientIp())
	if ip == "" {
		return nil
	}
	return func(_ *telemetryv1.Event, d *eventdoc.Source) { d.ClientIP = ip }
}

// sixToFour is the 6to4 prefix (RFC 3056), whose next 32 bits are an IPv4
// address.
var sixToFour = netip.MustParsePrefix("2002::/16")

// Anonymise returns ip as the mode keeps it ("" for drop, or for anything
// that is not an address).
func (c ClientIP) Anonymise(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || c.mode == IPDrop {
		return ""
	}
	addr = addr.Unmap().WithZone("")
	if c.mode == IPNone {
		return addr.String()
	}
	bits := 24
	if addr.Is6() {
		bits = 48
		if sixToFour.Contains(addr) {
			// 2002:WWXX:YYZZ::/48 is the client's whole IPv4 address
			// WW.XX.YY.ZZ: keep its /24, as for IPv4.
			bits = 16 + 24
		}
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.Addr().String()
}
