package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
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

// maxEnded bounds how many ended sessions a process remembers; past it all are forgotten
// and the count starts again.
const maxEnded = 10_000

// endedSessions remembers the token hashes of well-tagged cookies that named no live
// session (signed out, idle too long, ended with their key), so that replaying such a
// cookie costs one query per process, not one per request. A session never comes back
// once it has ended, so what is remembered never goes stale; the bound only caps memory.
type endedSessions struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (e *endedSessions) add(tokenHash []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil || len(e.m) >= maxEnded {
		e.m = map[string]struct{}{}
	}
	e.m[string(tokenHash)] = struct{}{}
}

func (e *endedSessions) has(tokenHash []byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.m[string(tokenHash)]
	return ok
}
