package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

const (
	defaultLimit = 25
	maxLimit     = 100
)

// listPage is the envelope of every list response.
type listPage[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// pageCursor is the opaque page_token: a position in a listing's order, bound to the
// listing (kind and scope, e.g. the filters or the ticket) it came from. Micros is a time
// in microseconds (a position, for automations) within domain.MinTime..MaxTime.
type pageCursor struct {
	Version int    `json:"v"`
	Kind    string `json:"k"`
	Scope   string `json:"s"`
	Micros  int64  `json:"t"`
	ID      string `json:"i"`
}

// listing is what a list endpoint reads from its query: page size and position.
type listing struct {
	kind, scope string
	limit       int
	after       *pageCursor // nil on the first page
}

// parseListing checks the query (limit, page_token and the endpoint's filters) of a
// listing of kind over scope.
func parseListing(c *fiber.Ctx, kind, scope string, filters ...string) (*listing, error) {
	if err := checkQuery(c, append([]string{"limit", "page_token"}, filters...)...); err != nil {
		return nil, err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(c, kind, scope)
	if err != nil {
		return nil, err
	}
	return &listing{kind: kind, scope: scope, limit: limit, after: after}, nil
}

// page renders items as the list envelope; position gives each item's place in the
// listing's order, for the next page's token.
func pageFor[T, V any](l *listing, items []T, more bool, view func(*T) V, position func(*T) (time.Time, string)) listPage[V] {
	page := listPage[V]{Items: make([]V, len(items))}
	for i := range items {
		page.Items[i] = view(&items[i])
	}
	if more && len(items) > 0 {
		at, id := position(&items[len(items)-1])
		page.NextPageToken = encodePageToken(l.kind, l.scope, at, id)
	}
	return page
}

// parseLimit reads `limit`: 1..100, default 25.
func parseLimit(c *fiber.Ctx) (int, error) {
	raw := c.Query("limit")
	if raw == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxLimit {
		return 0, domain.Invalidf("limit", "`limit` must be an integer from 1 to %d; got %q.", maxLimit, raw)
	}
	return n, nil
}

// scopeOf condenses what a listing is over, so a token from one listing is refused by
// another.
func scopeOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// parsePageToken decodes `page_token` for the listing (kind, scope); nil when absent.
func parsePageToken(c *fiber.Ctx, kind, scope string) (*pageCursor, error) {
	raw := c.Query("page_token")
	if raw == "" {
		return nil, nil
	}
	bad := domain.Invalidf("page_token", "`page_token` is not a token this listing returned; pass next_page_token from the previous page unchanged, with the same filters.")
	data, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, bad
	}
	var pc pageCursor
	if err := json.Unmarshal(data, &pc); err != nil || pc.Version != 1 || pc.Kind != kind || pc.Scope != scope ||
		!validCursorKey(kind, pc.ID) || pc.Micros < domain.MinTime.UnixMicro() || pc.Micros > domain.MaxTime.UnixMicro() {
		return nil, bad
	}
	return &pc, nil
}

// validCursorKey reports whether key can be a position in a listing of kind: an ID, or for
// the destinations listing a destination as domain.Destination writes it.
func validCursorKey(kind, key string) bool {
	if kind == "destinations" {
		return key != "" && domain.Destination(key) == key
	}
	return validCursorID(key)
}

// validCursorID reports whether id has the shape of an ID of any kind (a token is not
// signed: what it holds goes into a query, so it must be something the database can
// compare).
func validCursorID(id string) bool {
	prefix, _, ok := strings.Cut(id, "_")
	return ok && prefix != "" && strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyz") == "" && domain.ValidID(prefix, id)
}

func (pc *pageCursor) time() time.Time { return time.UnixMicro(pc.Micros).UTC() }

func encodePageToken(kind, scope string, at time.Time, id string) string {
	data, _ := json.Marshal(pageCursor{Version: 1, Kind: kind, Scope: scope, Micros: at.UnixMicro(), ID: id})
	return base64.RawURLEncoding.EncodeToString(data)
}
