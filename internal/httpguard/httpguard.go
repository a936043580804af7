// Package httpguard makes the HTTP client that action calls go out through. It refuses to
// connect to internal addresses (loopback, private, link-local and cloud metadata, CGNAT,
// IPv6 unique-local and deprecated site-local, unspecified, multicast, reserved) and to
// IPv6 forms that carry an IPv4 address inside them (IPv4-mapped, IPv4-compatible, NAT64,
// 6to4 and its 192.88.99.0/24 relays, Teredo), unless an operator allows them. The check
// runs at dial time on the resolved IP, so a name that resolves, or re-resolves, to an
// internal address is refused too. No proxy, no redirects.
package httpguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// denied are the ranges refused unless allowed. The IPv6 ranges that embed an IPv4 address
// are refused whole rather than decoded: a relay or translator on the path could deliver
// them to the embedded address, and no action receiver needs them.
var denied = mustPrefixes(
	"0.0.0.0/8",       // "this network", unspecified
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // CGNAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated): relays forward into 2002::/16
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"::/96",           // IPv4-compatible (deprecated): ::7f00:1 is 127.0.0.1; also covers :: and ::1
	"::ffff:0:0/96",   // IPv4-mapped: a dual-stack socket dials the embedded IPv4 address
	"64:ff9b::/96",    // NAT64, reaches IPv4 space
	"64:ff9b:1::/48",  // local NAT64
	"100::/64",        // discard
	"2001::/32",       // Teredo: embeds the server's IPv4 address and the client's (obfuscated)
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4: bits 16-47 are an IPv4 address, e.g. 2002:7f00:1:: for 127.0.0.1
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
	"fec0::/10",       // site-local (deprecated), still routed internally by some networks
	"ff00::/8",        // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// RefusedError is returned when the destination address is not allowed.
type RefusedError struct {
	Addr netip.Addr
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: internal addresses are not allowed as action destinations", e.Addr)
}

// IsRefused reports whether err comes from the guard.
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

// Guard decides which addresses calls may reach.
type Guard struct {
	allow []netip.Prefix
}

// New returns a guard that additionally allows the comma-separated CIDRs (the value of
// ACTIONS_EGRESS_ALLOW_CIDRS, e.g. "127.0.0.0/8" for local development).
func New(allowCIDRs string) (*Guard, error) {
	g := &Guard{}
	for _, s := range strings.Split(allowCIDRs, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("ACTIONS_EGRESS_ALLOW_CIDRS: %q is not a CIDR like 127.0.0.0/8", s)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// Check returns a *RefusedError when addr may not be reached. An IPv4-mapped address is not
// unmapped first, so an allowed CIDR lets through only the family it names: 127.0.0.0/8
// allows 127.0.0.1 but not ::ffff:127.0.0.1, which ::ffff:0:0/96 refuses. The dialer hands
// mapped addresses over in their IPv4 form, so this does not block the allowed ones there.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.WithZone("")
	for _, p := range g.allow {
		if p.Contains(addr) {
			return nil
		}
	}
	for _, p := range denied {
		if p.Contains(addr) {
			return &RefusedError{Addr: addr}
		}
	}
	return nil
}

// control runs after name resolution, on the address about to be dialled.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("httpguard: unexpected dial address %q", address)
	}
	return g.Check(addr)
}

// Client returns an HTTP client whose connections pass the guard, that ignores proxy
// settings and never follows redirects (a 3xx is returned as the response).
func (g *Guard) Client() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	transport := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the per-attempt context bounds the whole call
	}
	return &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
