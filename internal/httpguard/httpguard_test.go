package httpguard

import (
	"net/netip"
	"testing"
)

func TestCheck(t *testing.T) {
	g, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1", "169.254.169.254",
		"100.64.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "::1", "::", "::ffff:127.0.0.1", "::ffff:8.8.8.8",
		"fd12:3456::1", "fe80::1", "ff02::1", "64:ff9b::a00:1",
	} {
		if g.Check(netip.MustParseAddr(s)) == nil {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111"} {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	open, err := New("127.0.0.0/8, 10.20.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	for s, ok := range map[string]bool{"127.0.0.1": true, "10.20.5.5": true, "10.21.0.1": false, "::1": false} {
		if (open.Check(netip.MustParseAddr(s)) == nil) != ok {
			t.Errorf("with allow-list, %s allowed=%v", s, !ok)
		}
	}
	if _, err := New("not-a-cidr"); err == nil {
		t.Error("a malformed CIDR was accepted")
	}
}
