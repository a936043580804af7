package auth

import (
	"strings"
	"testing"

	"github.com/threada/threada/internal/domain"
)

func TestSecrets(t *testing.T) {
	keyID := domain.NewID(domain.PrefixKey)
	secret, hash := NewSecret(keyID)
	if !strings.HasPrefix(secret, SecretPrefix) {
		t.Errorf("secret %q lacks the scanner prefix", secret)
	}
	if got, ok := KeyIDFromSecret(secret); !ok || got != keyID {
		t.Errorf("KeyIDFromSecret = %q, %v; want %q", got, ok, keyID)
	}
	if !Matches(secret, hash) || Matches(secret+"x", hash) || Matches(secret[:len(secret)-1], hash) {
		t.Error("Matches misjudges")
	}
	other, _ := NewSecret(keyID)
	if other == secret {
		t.Error("two secrets for one key are equal")
	}
	if p := DisplayPrefix(secret); p != secret[:DisplayPrefixLen] || DisplayPrefixLen > len(SecretPrefix)+domain.IDBodyLen {
		t.Errorf("display prefix %q is not the key-id part of the secret", p)
	}
	if strings.Contains(DisplayPrefix(secret), secret[len(SecretPrefix)+domain.IDBodyLen+1:]) {
		t.Error("display prefix shows random characters")
	}
	for _, bad := range []string{"", "thr_", "thr_short_x", "sk_live_" + secret[4:], "thr_" + strings.Repeat("!", 26) + "_abc"} {
		if _, ok := KeyIDFromSecret(bad); ok {
			t.Errorf("KeyIDFromSecret accepted %q", bad)
		}
	}
}
