// Package httpguard makes the HTTP client that action calls go out through. It refuses to
// connect to internal addresses (loopback, private, link-local and cloud metadata, CGNAT,
// IPv6 unique-local, IPv4-mapped, unspecified, multicast, reserved) unless an operator
// allows them. The check runs at dial time on the resolved IP, so a name that resolves,
// or re-resolves, to an internal address is refused too. No proxy, no redirects.
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

// denied are the ranges refused unless allowed.
var denied = mustPrefixes(
	"0.0.0.0/8",       // "this network", unspecified
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // CGNAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"::ffff:0:0/96",   // IPv4-mapped
	"64:ff9b::/96",    // NAT64, reaches IPv4 space
	"64:ff9b:1::/48",  // local NAT64
	"100::/64",        // discard
	"2001:db8::/32",   // documentation
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
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

// Check returns a *RefusedError when addr may not be reached.
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
