package domain

import "time"

// ConsoleSession is a signed-in admin console session. It is found by the hash of its
// cookie token; SealedKey is the API key it acts with, sealed under a key derived from that
// token, so the stored row alone reveals neither.
type ConsoleSession struct {
	TokenHash  []byte
	TenantID   string
	KeyID      string
	KeyName    string
	KeyPrefix  string
	Scopes     []string
	SealedKey  []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// HasScope reports whether the session's key carries scope.
func (s *ConsoleSession) HasScope(scope string) bool {
	for _, sc := range s.Scopes {
		if sc == scope {
			return true
		}
	}
	return false
}
