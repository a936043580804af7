// Package secretbox encrypts secrets that must be kept readable, such as tenants' webhook
// signing secrets, with AES-256-GCM under a key from the environment (SECRETS_KEY), so a
// database dump alone never reveals them.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// KeySize is the length of a key in bytes.
const KeySize = 32

// Box seals and opens secrets with one key.
type Box struct {
	aead cipher.AEAD
	key  []byte // only for Derive
}

// New returns a Box for a base64-encoded 32-byte key.
func New(encodedKey string) (*Box, error) {
	key, err := base64.StdEncoding.DecodeString(encodedKey)
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("SECRETS_KEY must be %d random bytes in base64 (e.g. `openssl rand -base64 32`)", KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, key: key}, nil
}

// NewKey returns a fresh base64-encoded key.
func NewKey() string {
	var b [KeySize]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// Derive returns a 32-byte key for another use, named by label: HMAC-SHA256 of the label
// under the box's key. Every process with the same SECRETS_KEY derives the same key, and
// neither a derived key nor a value made with it reveals SECRETS_KEY or another label's.
func (b *Box) Derive(label string) []byte {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Seal encrypts plaintext; aad binds the result to its owner (e.g. the tenant id), so a
// sealed value copied to another row does not open.
func (b *Box) Seal(plaintext, aad string) []byte {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	_, _ = rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
}

// Open decrypts what Seal returned for the same aad.
func (b *Box) Open(sealed []byte, aad string) (string, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("secretbox: sealed value too short")
	}
	out, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return "", errors.New("secretbox: cannot open the secret (wrong SECRETS_KEY?)")
	}
	return string(out), nil
}
