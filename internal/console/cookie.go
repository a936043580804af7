package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// A session cookie reads "<token>.<tag>": the tag is a truncated HMAC-SHA256 of the token
// under the console's cookie key (derived from SECRETS_KEY, so every API process has it).
// A cookie anyone made up fails the tag and is signed out without a database query; only
// a cookie this server issued reaches the session table.
const (
	minCookieKeyLen = 32
	// cookieTagLen is how much of the HMAC the cookie carries: 128 bits, beyond guessing.
	cookieTagLen = 16
	// maxCookieLen bounds the work a cookie can ask for; ours are 66 characters.
	maxCookieLen = 100
)

// signCookie returns the cookie value that carries token.
func (cn *Console) signCookie(token string) string {
	return token + "." + cn.cookieTag(token)
}

func (cn *Console) cookieTag(token string) string {
	m := hmac.New(sha256.New, cn.cookieKey)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:cookieTagLen])
}

// verifyCookie returns the token a cookie value carries if its tag is right (compared in
// constant time). A cookie from before cookies were tagged has no tag and fails: its
// browser signs in again.
func (cn *Console) verifyCookie(value string) (string, bool) {
	if len(value) > maxCookieLen {
		return "", false
	}
	token, tag, ok := strings.Cut(value, ".")
	if !ok || token == "" {
		return "", false
	}
	return token, hmac.Equal([]byte(tag), []byte(cn.cookieTag(token)))
}
