package document

import (
	"net/netip"
	"unicode/utf8"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// MaxUserAgentBytes bounds the User-Agent kept in a document (and parsed by
// the device step). Ingest caps it too; enrich does not rely on that.
const MaxUserAgentBytes = 512

// limitEnvelope bounds the fields of b that come from request headers
// rather than from the validated events: the User-Agent is cut to
// MaxUserAgentBytes (at a character boundary), and a client address that
// does not parse is dropped (one that does is kept in its canonical form,
// IPv4-mapped IPv6 unmapped). Both are pure functions of the batch, so a
// redelivery builds the same documents.
func limitEnvelope(b *telemetryv1.EventBatch) {
	b.UserAgent = truncateUTF8(b.UserAgent, MaxUserAgentBytes)
	if b.ClientIp != "" {
		addr, err := netip.ParseAddr(truncateUTF8(b.ClientIp, 64))
		if err != nil || len(b.ClientIp) > 64 {
			b.ClientIp = ""
		} else {
			b.ClientIp = addr.Unmap().String()
		}
	}
}

// truncateUTF8 returns at most n bytes of s, never splitting a character;
// invalid bytes at the cut are dropped with it.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size > 1 {
			return s
		}
		s = s[:len(s)-1]
	}
	return s
}
