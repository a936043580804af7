package domain

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Documented input limits.
const (
	MaxSubjectLen     = 500    // characters
	MaxContentLen     = 65_536 // characters
	MaxTags           = 20
	MaxTagLen         = 50 // characters
	MaxContactNameLen = 200
	MaxEmailLen       = 254
	MaxExternalIDLen  = 255
)

var (
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	tagPattern   = regexp.MustCompile(`^[\p{L}\p{N}_\-:./]+$`)
)

// Normalize fills defaults and checks every field of a new ticket.
func (in *TicketCreate) Normalize() error {
	var err error
	if in.Subject, err = checkLine("subject", in.Subject, MaxSubjectLen, true); err != nil {
		return err
	}
	if in.Status == "" {
		in.Status = StatusOpen
	}
	if in.Priority == "" {
		in.Priority = PriorityNormal
	}
	if in.Channel == "" {
		in.Channel = ChannelAPI
	}
	if err := checkEnum("status", in.Status, Statuses); err != nil {
		return err
	}
	if err := checkEnum("priority", in.Priority, Priorities); err != nil {
		return err
	}
	if err := checkEnum("channel", in.Channel, Channels); err != nil {
		return err
	}
	if in.Tags, err = NormalizeTags("tags", in.Tags); err != nil {
		return err
	}
	if in.Contact != nil {
		if err := in.Contact.normalize("contact"); err != nil {
			return err
		}
		if in.Contact.Empty() {
			in.Contact = nil
		}
	}
	if in.InitialMessage != nil {
		if in.InitialMessage.Channel == "" {
			in.InitialMessage.Channel = in.Channel
		}
		if err := in.InitialMessage.normalize("initial_message."); err != nil {
			return err
		}
	}
	return nil
}

// Normalize checks every field present in a partial update.
func (u *TicketUpdate) Normalize() error {
	if u.Subject != nil {
		s, err := checkLine("subject", *u.Subject, MaxSubjectLen, true)
		if err != nil {
			return err
		}
		u.Subject = &s
	}
	if u.Status != nil {
		if err := checkEnum("status", *u.Status, Statuses); err != nil {
			return err
		}
	}
	if u.Priority != nil {
		if err := checkEnum("priority", *u.Priority, Priorities); err != nil {
			return err
		}
	}
	if u.Tags != nil {
		tags, err := NormalizeTags("tags", *u.Tags)
		if err != nil {
			return err
		}
		u.Tags = &tags
	}
	if u.Contact != nil {
		if err := u.Contact.normalize("contact"); err != nil {
			return err
		}
	}
	var err error
	if u.AddTags, err = NormalizeTags("add_tags", u.AddTags); err != nil {
		return err
	}
	if u.RemoveTags, err = NormalizeTags("remove_tags", u.RemoveTags); err != nil {
		return err
	}
	return nil
}

// Normalize fills defaults (role "user"; the channel is the caller's to default) and checks
// a new message.
func (m *MessageCreate) Normalize() error { return m.normalize("") }

func (m *MessageCreate) normalize(prefix string) error {
	if m.Role == "" {
		m.Role = RoleUser
	}
	if err := checkEnum(prefix+"role", m.Role, Roles); err != nil {
		return err
	}
	if m.Channel != "" {
		if err := checkEnum(prefix+"channel", m.Channel, Channels); err != nil {
			return err
		}
	}
	if _, err := checkText(prefix+"content", m.Content, MaxContentLen, true); err != nil {
		return err
	}
	if m.ExternalMessageID != "" {
		id, err := checkLine(prefix+"external_message_id", m.ExternalMessageID, MaxExternalIDLen, true)
		if err != nil {
			return err
		}
		m.ExternalMessageID = id
	}
	return nil
}

func (c *Contact) normalize(param string) error {
	var err error
	if c.Name, err = checkLine(param+".name", c.Name, MaxContactNameLen, false); err != nil {
		return err
	}
	c.Email = strings.TrimSpace(c.Email)
	if c.Email != "" {
		addr, perr := mail.ParseAddress(c.Email)
		if perr != nil || addr.Address != c.Email || addr.Name != "" || len(c.Email) > MaxEmailLen {
			return Invalidf(param+".email", "`%s.email` must be a valid email address like customer@example.com.", param)
		}
	}
	c.Phone = strings.TrimSpace(c.Phone)
	if c.Phone != "" && !phonePattern.MatchString(c.Phone) {
		return Invalidf(param+".phone", "`%s.phone` must be in E.164 format, like +14155550123.", param)
	}
	return nil
}

// NormalizeTag trims a tag and checks its length and characters.
func NormalizeTag(param, tag string) (string, error) {
	n := utf8.RuneCountInString(tag) // as sent, like maxLength in the OpenAPI document
	tag = strings.TrimSpace(tag)
	if tag == "" || n > MaxTagLen || !tagPattern.MatchString(tag) {
		return "", Invalidf(param, "`%s`: a tag is 1 to %d letters, digits or the characters _ - : . /; got %q.", param, MaxTagLen, tag)
	}
	return tag, nil
}

// NormalizeTags trims tags, drops exact duplicates keeping the first, and checks count,
// length and characters.
func NormalizeTags(param string, tags []string) ([]string, error) {
	// Counted as sent, duplicates included (the document's maxItems), and before any
	// per-tag work, so a huge list costs nothing.
	if len(tags) > MaxTags {
		return nil, Invalidf(param, "`%s` can hold at most %d tags; got %d.", param, MaxTags, len(tags))
	}
	out := make([]string, 0, len(tags))
	for i, t := range tags {
		t, err := NormalizeTag(fmt.Sprintf("%s[%d]", param, i), t)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// checkText checks s's length in characters as sent, trims it, and checks that it holds
// nothing PostgreSQL text cannot store (NUL). The length is the untrimmed one so that it is
// the OpenAPI document's maxLength exactly. Single-line fields also refuse control
// characters.
func checkText(param, s string, maxLen int, required bool) (string, error) {
	if n := utf8.RuneCountInString(s); n > maxLen {
		return "", Invalidf(param, "`%s` must be at most %d characters; got %d.", param, maxLen, n)
	}
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", Invalidf(param, "`%s` is required and must not be blank.", param)
	}
	if err := CheckStorable(param, s); err != nil {
		return "", err
	}
	return s, nil
}

// CheckStorable refuses text PostgreSQL cannot store: invalid UTF-8 and NUL. Every string
// a request carries, in its body or its query, goes through it. (The text \u0000 is fine:
// the store writes JSON so that jsonb keeps it as text.)
func CheckStorable(param, s string) error {
	if !utf8.ValidString(s) {
		return Invalidf(param, "`%s` must be valid UTF-8.", param)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Invalidf(param, "`%s` must not contain NUL characters.", param)
	}
	return nil
}

// Times the API accepts: years 1 to 9999, what RFC 3339 can write and PostgreSQL store.
var (
	MinTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)
)

// CheckTime refuses a time outside MinTime..MaxTime, such as 0000-01-01T00:00:00Z.
func CheckTime(param string, t time.Time) error {
	if t.Before(MinTime) || t.After(MaxTime) {
		return Invalidf(param, "`%s` must be a time from year 1 to year 9999 (UTC).", param)
	}
	return nil
}

// checkLine is checkText for single-line fields such as a subject or a name.
func checkLine(param, s string, maxLen int, required bool) (string, error) {
	s, err := checkText(param, s, maxLen, required)
	if err != nil {
		return "", err
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", Invalidf(param, "`%s` must be a single line without control characters.", param)
	}
	return s, nil
}

// checkEnum refuses values outside the allowed list, naming the list.
func checkEnum(param, v string, allowed []string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return Invalidf(param, "`%s` must be one of %s; got %q.", param, strings.Join(allowed, ", "), v)
}

// CheckEnum is checkEnum for callers outside the package, such as query filters.
func CheckEnum(param, v string, allowed []string) error { return checkEnum(param, v, allowed) }
