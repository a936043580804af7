package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// PrefixErasure starts every erasure ID.
const PrefixErasure = "era"

// Erasure statuses: running while the tenant's records are searched; waiting while actions
// that held the person's data were still running when the search passed them (what they
// record when they end is erased then); completed once nothing is left to do.
const (
	ErasureRunning   = "running"
	ErasureWaiting   = "waiting"
	ErasureCompleted = "completed"
)

// ErasureSubject is the person to erase: an email address or a phone number.
type ErasureSubject struct {
	Kind  string // "email" or "phone"
	Value string
}

// Limits of an erasure's subject.
const (
	MaxErasureEmailLen = 254
	MaxErasurePhoneLen = 32
)

var phoneShape = regexp.MustCompile(`^\+?[0-9][0-9 ().-]{3,30}$`)

// emailShape is one address without spaces, controls, quotes, backslashes or angle
// brackets (the OpenAPI document states the same pattern).
var emailShape = regexp.MustCompile(`^[^@\x00-\x20"\\<>]+@[^@\x00-\x20"\\<>]+$`)

// NewErasureSubject checks exactly one of email and phone and returns the subject.
func NewErasureSubject(email, phone string) (ErasureSubject, error) {
	switch {
	case (email == "") == (phone == ""):
		return ErasureSubject{}, Invalidf("", "Give exactly one of `email` and `phone`: the person whose data to erase.")
	case email != "":
		if !utf8.ValidString(email) || utf8.RuneCountInString(email) > MaxErasureEmailLen || !emailShape.MatchString(email) {
			return ErasureSubject{}, Invalidf("email", "`email` must be one address of at most %d characters without spaces, quotes, backslashes or angle brackets, such as ada@example.com.", MaxErasureEmailLen)
		}
		return ErasureSubject{Kind: "email", Value: email}, nil
	default:
		if !phoneShape.MatchString(phone) {
			return ErasureSubject{}, Invalidf("phone", "`phone` must be a phone number: digits with spaces, dots, dashes or parentheses between them and an optional leading +, 4 to 32 characters, such as +1 555 0100.")
		}
		return ErasureSubject{Kind: "phone", Value: phone}, nil
	}
}

// Pattern is the PostgreSQL regular expression (to use case-insensitively) that finds the
// subject in text and in JSON text: an email as written, in any case; a phone number by
// its digits, whatever separators stand between them.
func (s ErasureSubject) Pattern() string {
	if s.Kind == "email" {
		return regexp.QuoteMeta(s.Value)
	}
	var digits []string
	for _, r := range s.Value {
		if r >= '0' && r <= '9' {
			digits = append(digits, string(r))
		}
	}
	return strings.Join(digits, `[ ().-]*`)
}

// Hash identifies the subject within the tenant without keeping it: two erasures of the
// same person have the same hash.
func (s ErasureSubject) Hash(tenantID string) string {
	v := s.Value
	if s.Kind == "email" {
		v = strings.ToLower(v)
	} else {
		v = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, v)
	}
	sum := sha256.Sum256([]byte(tenantID + "\x00" + s.Kind + "\x00" + v))
	return hex.EncodeToString(sum[:])
}

// ErasureMark replaces what an erasure removes.
const ErasureMark = "[erased]"

// Erasure is a request to erase a person's data from a tenant's records, as it is shown:
// without the person's data.
type Erasure struct {
	ID, TenantID, SubjectKind, SubjectHash, Status, RequestedBy string
	Counts                                                      map[string]int64
	CreatedAt, UpdatedAt                                        time.Time
	CompletedAt                                                 *time.Time
}
