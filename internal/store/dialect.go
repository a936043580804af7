package store

import "github.com/uptrace/bun/dialect/pgdialect"

// dialect is bun's PostgreSQL dialect with JSON written as PostgreSQL can always store it.
// bun's own AppendJSON turns the escape \u0000 into the text \\u0000 to dodge jsonb's
// refusal of NUL, but it also rewrites \u0000 preceded by an escaped backslash (the
// text "\u0000" in a value), producing an escape jsonb refuses; any message or body
// holding that text then failed to store.
type dialect struct {
	*pgdialect.Dialect
}

// AppendJSON writes jsonb (valid JSON, as encoding/json produces) as an SQL string
// literal: quotes doubled, escapes kept as they are, except that a NUL escape, which
// jsonb cannot hold, becomes U+FFFD.
func (dialect) AppendJSON(b, jsonb []byte) []byte {
	b = append(b, '\'')
	for i := 0; i < len(jsonb); i++ {
		switch c := jsonb[i]; c {
		case '\'':
			b = append(b, '\'', '\'')
		case 0:
			// not valid JSON; never produced by encoding/json
		case '\\':
			if i+1 >= len(jsonb) {
				continue
			}
			if i+5 < len(jsonb) && string(jsonb[i+1:i+6]) == "u0000" {
				b = append(b, `\ufffd`...)
				i += 5
				continue
			}
			i++
			b = append(b, '\\')
			if jsonb[i] == '\'' {
				b = append(b, '\'')
			}
			b = append(b, jsonb[i])
		default:
			b = append(b, c)
		}
	}
	return append(b, '\'')
}
