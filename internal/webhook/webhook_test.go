package webhook

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKnownVector checks the signature against one computed independently (Python's hmac)
// from the spec's recipe: base64(HMAC-SHA256(key, "id.timestamp.body")).
func TestKnownVector(t *testing.T) {
	secret := SecretPrefix + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	ts := time.Unix(1_700_000_000, 0)
	sig, err := Sign([]string{secret}, "act_1", ts, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,oAGk78y3hxghz1MH5B58u14ebC0MqDv3EIw19TZMo2M="; sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
}

func TestSignAndVerify(t *testing.T) {
	old, cur := NewSecret(), NewSecret()
	now := time.Now()
	body := []byte(`{"event":"ticket_updated"}`)
	sig, err := Sign([]string{cur, old}, "act_x", now, body)
	if err != nil || len(strings.Fields(sig)) != 2 {
		t.Fatalf("%q %v", sig, err)
	}
	stamp := func(tm time.Time) string { return strconv.FormatInt(tm.Unix(), 10) }
	for name, secret := range map[string]string{"current": cur, "previous": old} {
		if err := Verify(secret, "act_x", stamp(now), sig, body, now, time.Minute); err != nil {
			t.Errorf("%s secret: %v", name, err)
		}
	}
	for name, check := range map[string]error{
		"other secret": Verify(NewSecret(), "act_x", stamp(now), sig, body, now, time.Minute),
		"other body":   Verify(cur, "act_x", stamp(now), sig, []byte(`{}`), now, time.Minute),
		"other id":     Verify(cur, "act_y", stamp(now), sig, body, now, time.Minute),
		"stale":        Verify(cur, "act_x", stamp(now), sig, body, now.Add(10*time.Minute), time.Minute),
	} {
		if check == nil {
			t.Errorf("%s verified", name)
		}
	}
}
