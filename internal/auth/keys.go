// Package auth issues API key secrets and checks them. A secret reads
// "thr_<key id body>_<random>": the key id lets the server find the key's stored hash
// without an index on secrets, the "thr_" prefix lets secret scanners spot a leaked key.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/threada/threada/internal/domain"
)

// SecretPrefix starts every API key secret.
const SecretPrefix = "thr_"

// secretRandomBytes is the entropy of a secret: 192 bits.
const secretRandomBytes = 24

// DisplayPrefixLen is how much of a secret may be shown to identify it (prefix and key id
// part only, never random characters).
const DisplayPrefixLen = len(SecretPrefix) + 12

// NewSecret returns a new secret for the key keyID and the hash to store.
func NewSecret(keyID string) (secret string, hash []byte) {
	var b [secretRandomBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24.
	body := strings.TrimPrefix(keyID, domain.PrefixKey+"_")
	secret = SecretPrefix + body + "_" + domain.EncodeBase32(b[:])
	return secret, Hash(secret)
}

// Hash returns the digest stored for a secret. The secret carries 192 random bits, so a
// fast hash is enough: nothing can be guessed by brute force.
func Hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// KeyIDFromSecret returns the key id a secret names, or false when the secret is not
// shaped like one of ours.
func KeyIDFromSecret(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok || len(rest) < domain.IDBodyLen+2 || rest[domain.IDBodyLen] != '_' {
		return "", false
	}
	id := domain.PrefixKey + "_" + rest[:domain.IDBodyLen]
	if !domain.ValidID(domain.PrefixKey, id) {
		return "", false
	}
	return id, true
}

// Matches compares a presented secret with a stored hash in constant time.
func Matches(secret string, hash []byte) bool {
	return subtle.ConstantTimeCompare(Hash(secret), hash) == 1
}

// DisplayPrefix returns the part of a secret safe to show in listings.
func DisplayPrefix(secret string) string {
	if len(secret) < DisplayPrefixLen {
		return secret
	}
	return secret[:DisplayPrefixLen]
}
