package httpedge

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type clientIPKey struct{}

// ClientIP is the address a request came from: as resolved by
// ClientIPResolver when the server runs behind trusted proxies, else the
// TCP peer. Rate limits, the audit log and last-access records all use it.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	return peer(r)
}

func peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ParseTrustedProxies reads a comma-separated list of addresses and CIDR
// prefixes.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			if p.Bits() == 0 {
				// Then any client could name any address in
				// X-Forwarded-For, and per-address limits and the audit
				// log would believe it.
				return nil, fmt.Errorf("trusted proxy %q trusts every address; list the load balancers", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientIPResolver returns middleware that finds the client's address
// behind trusted proxies. Only a peer that is a trusted proxy is believed
// about X-Forwarded-For, and the list is read from the right, skipping
// trusted hops: the first untrusted address is the client, since anything
// left of it was written by the client itself and may be forged. Without
// trusted proxies the TCP peer is the client, whatever headers say.
func ClientIPResolver(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := peer(r)
			if len(trusted) > 0 && isTrusted(ip) {
				var hops []string
				for _, v := range r.Header.Values("X-Forwarded-For") {
					for _, h := range strings.Split(v, ",") {
						hops = append(hops, strings.TrimSpace(h))
					}
				}
				for i := len(hops) - 1; i >= 0; i-- {
					h := hops[i]
					if _, err := netip.ParseAddr(h); err != nil {
						break // garbage: stop at the last hop we could trust
					}
					ip = h
					if !isTrusted(h) {
						break
					}
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip)))
		})
	}
}
