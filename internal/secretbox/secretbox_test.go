package secretbox

import (
	"bytes"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal("whsec_top-secret", "ten_a")
	if bytes.Contains(sealed, []byte("top-secret")) {
		t.Error("the sealed value shows the plaintext")
	}
	if got, err := b.Open(sealed, "ten_a"); err != nil || got != "whsec_top-secret" {
		t.Errorf("open: %q %v", got, err)
	}
	if _, err := b.Open(sealed, "ten_b"); err == nil {
		t.Error("opened with another tenant's AAD")
	}
	other, _ := New(NewKey())
	if _, err := other.Open(sealed, "ten_a"); err == nil {
		t.Error("opened with another key")
	}
	if bytes.Equal(b.Seal("x", "a"), b.Seal("x", "a")) {
		t.Error("sealing is deterministic")
	}
	for _, bad := range []string{"", "c2hvcnQ=", "not base64!"} {
		if _, err := New(bad); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

func TestDerive(t *testing.T) {
	key := NewKey()
	a, _ := New(key)
	b, _ := New(key)
	other, _ := New(NewKey())
	for _, tc := range []struct {
		name string
		x, y []byte
		same bool
	}{
		{"same key, same label", a.Derive("console"), b.Derive("console"), true},
		{"same key, another label", a.Derive("console"), a.Derive("other"), false},
		{"another key, same label", a.Derive("console"), other.Derive("console"), false},
	} {
		if bytes.Equal(tc.x, tc.y) != tc.same || len(tc.x) != 32 {
			t.Errorf("%s: equal=%v, want %v (%d bytes)", tc.name, !tc.same, tc.same, len(tc.x))
		}
	}
}
