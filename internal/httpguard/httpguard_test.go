package httpguard

import (
	"net/netip"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		allow   string // ACTIONS_EGRESS_ALLOW_CIDRS
		addr    string
		refused bool
	}{
		// IPv4 internal ranges.
		{name: "loopback", addr: "127.0.0.1", refused: true},
		{name: "loopback elsewhere in 127/8", addr: "127.1.2.3", refused: true},
		{name: "RFC 1918 10/8", addr: "10.1.2.3", refused: true},
		{name: "RFC 1918 172.16/12 start", addr: "172.16.0.1", refused: true},
		{name: "RFC 1918 172.16/12 end", addr: "172.31.255.255", refused: true},
		{name: "just past 172.16/12", addr: "172.32.0.1"},
		{name: "RFC 1918 192.168/16", addr: "192.168.0.1", refused: true},
		{name: "cloud metadata", addr: "169.254.169.254", refused: true},
		{name: "CGNAT", addr: "100.64.0.1", refused: true},
		{name: "just past CGNAT", addr: "100.128.0.1"},
		{name: "unspecified IPv4", addr: "0.0.0.0", refused: true},
		{name: "broadcast", addr: "255.255.255.255", refused: true},
		{name: "IPv4 multicast", addr: "224.0.0.1", refused: true},
		{name: "6to4 relay anycast", addr: "192.88.99.1", refused: true},
		{name: "just past 6to4 relay anycast", addr: "192.88.100.1"},

		// IPv6 internal ranges.
		{name: "IPv6 loopback", addr: "::1", refused: true},
		{name: "IPv6 unspecified", addr: "::", refused: true},
		{name: "unique local", addr: "fd12:3456::1", refused: true},
		{name: "link-local", addr: "fe80::1", refused: true},
		{name: "link-local with zone", addr: "fe80::1%eth0", refused: true},
		{name: "site-local start", addr: "fec0::1", refused: true},
		{name: "site-local end", addr: "feff:ffff::1", refused: true},
		{name: "IPv6 multicast", addr: "ff02::1", refused: true},

		// IPv6 forms that carry an IPv4 address.
		{name: "IPv4-mapped loopback", addr: "::ffff:127.0.0.1", refused: true},
		{name: "IPv4-mapped public", addr: "::ffff:8.8.8.8", refused: true},
		{name: "IPv4-compatible loopback", addr: "::7f00:1", refused: true},
		{name: "IPv4-compatible public", addr: "::808:808", refused: true},
		{name: "NAT64 of 10.0.0.1", addr: "64:ff9b::a00:1", refused: true},
		{name: "NAT64 of cloud metadata", addr: "64:ff9b::a9fe:a9fe", refused: true},
		{name: "6to4 of loopback", addr: "2002:7f00:1::", refused: true},
		{name: "6to4 of public", addr: "2002:808:808::1", refused: true},
		{name: "just past 6to4", addr: "2003::1"},
		{name: "Teredo", addr: "2001:0:4136:e378::", refused: true},
		{name: "public outside Teredo", addr: "2001:4860:4860::8888"},

		// Public addresses.
		{name: "public IPv4 Google", addr: "8.8.8.8"},
		{name: "public IPv4 Cloudflare", addr: "1.1.1.1"},
		{name: "public IPv6 Cloudflare", addr: "2606:4700:4700::1111"},
		{name: "public IPv6 short", addr: "2606:4700::1111"},

		// An allow-list lets through exactly what it names.
		{name: "allowed loopback", allow: "127.0.0.0/8, 10.20.0.0/16", addr: "127.0.0.1"},
		{name: "allowed private", allow: "127.0.0.0/8, 10.20.0.0/16", addr: "10.20.5.5"},
		{name: "private next to allowed", allow: "127.0.0.0/8, 10.20.0.0/16", addr: "10.21.0.1", refused: true},
		{name: "IPv6 loopback not named", allow: "127.0.0.0/8, 10.20.0.0/16", addr: "::1", refused: true},
		{name: "mapped form not named", allow: "127.0.0.0/8", addr: "::ffff:127.0.0.1", refused: true},
		{name: "compatible form not named", allow: "127.0.0.0/8", addr: "::7f00:1", refused: true},
		{name: "6to4 form not named", allow: "127.0.0.0/8", addr: "2002:7f00:1::", refused: true},
		{name: "allowed IPv6 range", allow: "fd00::/8", addr: "fd12:3456::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			err = g.Check(netip.MustParseAddr(tt.addr))
			if tt.refused && !IsRefused(err) {
				t.Errorf("%s (allow %q): got %v, want refused", tt.addr, tt.allow, err)
			}
			if !tt.refused && err != nil {
				t.Errorf("%s (allow %q): refused: %v", tt.addr, tt.allow, err)
			}
		})
	}
}

// TestControl covers the dial-time hook, which sees host:port strings, not parsed addresses.
func TestControl(t *testing.T) {
	tests := []struct {
		name    string
		address string
		refused bool
	}{
		{name: "IPv4 loopback", address: "127.0.0.1:80", refused: true},
		{name: "IPv4-mapped loopback", address: "[::ffff:127.0.0.1]:80", refused: true},
		{name: "IPv4-compatible loopback", address: "[::7f00:1]:80", refused: true},
		{name: "6to4 relay", address: "192.88.99.1:443", refused: true},
		{name: "Teredo", address: "[2001:0:4136:e378::]:443", refused: true},
		{name: "site-local with zone", address: "[fec0::1%eth0]:443", refused: true},
		{name: "public IPv4", address: "1.1.1.1:443"},
		{name: "public IPv6", address: "[2606:4700::1111]:443"},
	}
	g, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.control("tcp", tt.address, nil)
			if tt.refused && !IsRefused(err) {
				t.Errorf("%s: got %v, want refused", tt.address, err)
			}
			if !tt.refused && err != nil {
				t.Errorf("%s: refused: %v", tt.address, err)
			}
		})
	}
}

func TestNewRejectsMalformedCIDR(t *testing.T) {
	if _, err := New("not-a-cidr"); err == nil {
		t.Error("a malformed CIDR was accepted")
	}
}
