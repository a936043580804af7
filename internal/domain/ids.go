package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"time"
)

// ID prefixes. An ID reads as prefix + "_" + 26 characters whose first ten encode the
// creation time in milliseconds, so IDs of one kind sort by creation time.
const (
	PrefixTenant  = "ten"
	PrefixKey     = "key"
	PrefixTicket  = "tkt"
	PrefixMessage = "msg"
	PrefixRequest = "req"
	PrefixAudit   = "aud"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o or u to misread.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// IDBodyLen is the length of an ID after its prefix and underscore.
const IDBodyLen = 26

// NewID returns a new time-sortable ID with the given prefix.
func NewID(prefix string) string {
	return prefix + "_" + newIDBody(time.Now())
}

// newIDBody encodes 48 bits of Unix milliseconds followed by 80 random bits.
func newIDBody(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails since Go 1.24.
	return EncodeBase32(b[:])
}

// FirstIDAt returns the least ID with the prefix made at t or later: every ID NewID or
// DerivedID made before t sorts below it, every one made at t or after does not. It
// turns "created before t" into a range of a table's primary key.
func FirstIDAt(prefix string, t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	return prefix + "_" + EncodeBase32(b[:])
}

// DerivedID returns the ID a retried computation must produce again: its time part is t,
// the rest a hash of parts. Automations derive the IDs of the actions they start this way,
// so evaluating an event twice cannot start an action twice.
func DerivedID(prefix string, t time.Time, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	copy(b[6:], h.Sum(nil)[:10])
	return prefix + "_" + EncodeBase32(b[:])
}

// EncodeBase32 encodes b in lower-case Crockford base32 without padding, most significant
// bit first, so that byte order and string order agree.
func EncodeBase32(b []byte) string {
	var sb strings.Builder
	sb.Grow((len(b)*8 + 4) / 5)
	var acc uint32
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(crockford[(acc>>uint(bits))&31])
		}
	}
	if bits > 0 {
		sb.WriteByte(crockford[(acc<<uint(5-bits))&31])
	}
	return sb.String()
}

// ValidID reports whether s looks like an ID with the given prefix. It checks the shape
// only, so handlers can refuse garbage before it reaches the database.
func ValidID(prefix, s string) bool {
	body, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(body) != IDBodyLen {
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(crockford, body[i]) < 0 {
			return false
		}
	}
	return true
}
