package http

import (
	"fmt"
	"net/netip"
	"strings"
)

// trustedProxies decides which peer addresses may tell us the client's
// address in X-Forwarded-For.
type trustedProxies []netip.Prefix

func parseTrustedProxies(list []string) (trustedProxies, error) {
	var out trustedProxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (t trustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the peer's address, unless the peer is a trusted proxy: then
// X-Forwarded-For is read from the right, skipping trusted proxies, and the
// first address not trusted is the client. (The leftmost entry is whatever
// the client chose to send and is never believed.)
func (t trustedProxies) clientIP(peer netip.Addr, xff string) string {
	if !peer.IsValid() {
		return ""
	}
	peer = peer.Unmap()
	if len(t) == 0 || !t.trusts(peer) || xff == "" {
		return peer.String()
	}
	hops := strings.Split(xff, ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: stop believing the header here
		}
		a = a.Unmap()
		if !t.trusts(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}
