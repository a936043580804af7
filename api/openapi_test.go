package main

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/threada/threada/internal/domain"
)

// TestDocumentPatternsAgreeWithTheServer: the text rules the document states as patterns and
// lengths (single-line text, tags, phone numbers, durations, ids, Idempotency-Key, ...)
// accept exactly what the server's own checks accept, over random strings of the
// characters where they could differ: white space the server trims, control characters,
// Unicode spaces and line separators, multi-byte letters, signs and separators.
func TestDocumentPatternsAgreeWithTheServer(t *testing.T) {
	doc, _ := spec(t)
	schemas := doc.Components.Schemas
	prop := func(schema string, path ...string) *openapi3.Schema {
		s := schemas[schema].Value
		for _, p := range path {
			s = s.Properties[p].Value
		}
		return s
	}
	param := func(name string) *openapi3.Schema { return doc.Components.Parameters[name].Value.Schema.Value }
	settingsBody := doc.Paths.Find("/api/v1/admin/settings").Patch.RequestBody.Value.Content.Get("application/json").Schema.Value
	refused := func(err error) bool { return err != nil }
	for _, tc := range []struct {
		name     string
		schema   *openapi3.Schema
		alphabet string
		maxLen   int
		server   func(s string) bool // whether the server accepts s
		extra    []string
	}{
		{"name", schemas["Name"].Value, texty, 200, func(s string) bool {
			_, err := domain.CheckName("name", s, domain.MaxKeyNameLen)
			return !refused(err)
		}, nil},
		{"subject", prop("TicketCreate", "subject"), texty, domain.MaxSubjectLen, func(s string) bool {
			return (&domain.TicketCreate{Subject: s}).Normalize() == nil
		}, nil},
		{"external_message_id", prop("MessageCreate", "external_message_id"), texty, domain.MaxExternalIDLen, func(s string) bool {
			// "" is how the server holds an absent one; the document's minLength refuses it.
			return s != "" && (&domain.MessageCreate{Content: "x", ExternalMessageID: s}).Normalize() == nil
		}, nil},
		{"content", prop("MessageCreate", "content"), texty, 20, func(s string) bool {
			return (&domain.MessageCreate{Content: s}).Normalize() == nil
		}, nil},
		{"contact name", prop("Contact", "name"), texty, domain.MaxContactNameLen, func(s string) bool {
			return (&domain.TicketCreate{Subject: "s", Contact: &domain.Contact{Name: s}}).Normalize() == nil
		}, nil},
		{"contact phone", prop("Contact", "phone"), "+0123456789 \t\u00a0a", 20, func(s string) bool {
			return (&domain.TicketCreate{Subject: "s", Contact: &domain.Contact{Phone: s}}).Normalize() == nil
		}, nil},
		{"tag", schemas["Tag"].Value, texty + ":./-_", domain.MaxTagLen, func(s string) bool {
			_, err := domain.NormalizeTags("tag", []string{s})
			return !refused(err)
		}, nil},
		{"condition", schemas["Condition"].Value, texty, domain.MaxConditionLen, func(s string) bool {
			return (&domain.AutomationInput{Condition: &s}).CheckStatic(false) == nil
		}, nil},
		{"delay syntax", prop("AutomationCreate", "delay"), "0123456789.+-hmsunµμ x", 12, func(s string) bool {
			// The syntax of a duration without a sign; its range (from 1m, so never zero or
			// negative) is the server's to check, as the description says.
			_, err := time.ParseDuration(s)
			return err == nil && !strings.HasPrefix(s, "-") && strings.TrimPrefix(s, "+") != "0"
		}, nil},
		{"allowed host", settingsBody.Properties["allowed_hosts"].Value.Items.Value, "aB.-*/:@# \t\u00a0\u3000", 0, func(s string) bool {
			_, err := domain.NormalizeAllowedHosts("allowed_hosts", []string{s})
			return !refused(err)
		}, nil},
		{"Idempotency-Key", param("IdempotencyKey"), "aZ0 !~\t\x7fé", maxIdempotencyKeyLen, func(s string) bool {
			return printableToken(s, maxIdempotencyKeyLen)
		}, nil},
		{"ticket id", param("TicketID"), "tk_0123456789abcdefghijklmnopqrstuvwxyzIL", 0, func(s string) bool {
			return domain.ValidID(domain.PrefixTicket, s)
		}, idSamples(domain.PrefixTicket)},
		{"key id", param("KeyID"), "key_", 0, func(s string) bool {
			return domain.ValidID(domain.PrefixKey, s)
		}, idSamples(domain.PrefixKey)},
		{"automation id", param("AutomationID"), "aut_", 0, func(s string) bool {
			return domain.ValidID(domain.PrefixAutomation, s)
		}, idSamples(domain.PrefixAutomation)},
		{"SLA policy id", param("SLAPolicyID"), "slp_", 0, func(s string) bool {
			return domain.ValidID(domain.PrefixSLAPolicy, s)
		}, idSamples(domain.PrefixSLAPolicy)},
		{"action id", param("ActionID"), "act_", 0, func(s string) bool {
			return domain.ValidID(domain.PrefixAction, s)
		}, idSamples(domain.PrefixAction)},
		{"replay id", param("ReplayID"), "arp_", 0, func(s string) bool {
			return domain.ValidID(domain.PrefixReplayBatch, s)
		}, idSamples(domain.PrefixReplayBatch)},
		{"replay filter host", prop("ActionReplayFilter", "host"), "ab.-1:/@ \t\u00a0\x01", 253, func(s string) bool {
			// The server takes "" for no host; the document gives no empty value.
			f := domain.ReplayFilter{Host: s, Since: time.Now().Add(-time.Hour), Until: time.Now()}
			return s != "" && f.Normalize() == nil
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range append(samples(tc.alphabet, tc.maxLen), tc.extra...) {
				inDoc := tc.schema.VisitJSON(s) == nil
				if byServer := tc.server(s); inDoc != byServer {
					t.Errorf("%q (%d characters): the document accepts it: %v, the server: %v", s, len([]rune(s)), inDoc, byServer)
				}
			}
		})
	}
}

// texty holds the characters single-line and non-blank rules could treat differently:
// ASCII and multi-byte letters, white space the server trims (tab, newline, NBSP, NEL, the
// ideographic space), controls (\x01, DEL, C1), the line separator (not a control), and
// U+FEFF (white space to JavaScript, not to Go).
const texty = "aé \t\n\r\v\u00a0\u0085\u3000\x01\x7f\u009f\u2028\ufeff"

// samples returns strings over alphabet: every string of up to 2 characters, random ones
// of up to 8, and strings around maxLen (when set) padded with spaces and newlines.
func samples(alphabet string, maxLen int) []string {
	chars := []rune(alphabet)
	out := []string{""}
	for _, a := range chars {
		out = append(out, string(a))
		for _, b := range chars {
			out = append(out, string(a)+string(b))
		}
	}
	r := rand.New(rand.NewPCG(20, 20))
	for range 3000 {
		var b strings.Builder
		for range 1 + r.IntN(8) {
			b.WriteRune(chars[r.IntN(len(chars))])
		}
		out = append(out, b.String())
	}
	if maxLen > 0 {
		for _, n := range []int{maxLen - 1, maxLen, maxLen + 1} {
			body := strings.Repeat(string(chars[0]), n)
			out = append(out, body, " "+body, body+"\n", strings.Repeat(string(chars[len(chars)-1]), n))
		}
	}
	return out
}

// idSamples returns ids of prefix and near misses: another prefix, a character out of the
// alphabet (i, l, o, u, capitals), one character more or less.
func idSamples(prefix string) []string {
	id := domain.NewID(prefix)
	out := []string{id, "x" + id, id + "0", id[:len(id)-1], strings.ToUpper(id), "tkt" + id[len(prefix):], prefix + "-" + id[len(prefix)+1:]}
	for _, c := range "ilouILOU!" {
		out = append(out, id[:len(id)-1]+string(c))
	}
	return out
}
