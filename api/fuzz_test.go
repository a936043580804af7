package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/threada/threada/internal/dbtest"
)

// fuzzOps are the operations FuzzRequests drives, by index: append only, so that the
// seed corpus keeps meaning what it meant.
var fuzzOps = []struct {
	method, path string
	body         bool
}{
	{"POST", "/api/v1/public/tickets", true},
	{"PATCH", "/api/v1/public/tickets/{ticket_id}", true},
	{"POST", "/api/v1/public/tickets/{ticket_id}/messages", true},
	{"POST", "/api/v1/public/tickets/{ticket_id}/actions", true},
	{"POST", "/api/v1/admin/automations", true},
	{"PATCH", "/api/v1/admin/automations/{automation_id}", true},
	{"POST", "/api/v1/admin/automations/test", true},
	{"POST", "/api/v1/admin/api-keys", true},
	{"POST", "/api/v1/admin/api-keys/{key_id}/rotate", true},
	{"PATCH", "/api/v1/admin/settings", true},
	{"POST", "/api/v1/admin/settings/signing-secret/rotate", true},
	{"GET", "/api/v1/public/tickets", false},
	{"GET", "/api/v1/public/tickets/{ticket_id}/messages", false},
	{"GET", "/api/v1/public/tickets/{ticket_id}/actions", false},
	{"GET", "/api/v1/admin/automations", false},
	{"GET", "/api/v1/admin/automations/{automation_id}/runs", false},
	{"GET", "/api/v1/admin/api-keys", false},
	{"GET", "/api/v1/admin/audit-events", false},
	{"GET", "/api/v1/public/tickets/{ticket_id}", false},
	{"GET", "/api/v1/admin/automations/{automation_id}", false},
	{"GET", "/api/v1/admin/settings", false},
	{"DELETE", "/api/v1/admin/automations/{automation_id}", false},
	{"GET", "/api/v1/public/actions/{action_id}", false},
}

// FuzzRequests sends arbitrary JSON bodies, query strings and page tokens through the
// real app on a real database: whatever a client sends, the answer is never a 5xx, an
// error always has the public shape, and every answer matches the OpenAPI document
// (doValidated). op picks the operation from fuzzOps; a non-empty token is sent as
// page_token, base64-encoded. In query, token and body, $TENANT, $TICKET, $AUTOMATION,
// $KEY and $SCOPE (the unfiltered ticket listing's) stand for the input's own records, so
// that seeds can hold tokens and bodies that reach past the first checks.
//
// Plain `go test` runs the seeds in testdata/fuzz/FuzzRequests; `go test -fuzz
// FuzzRequests ./api` explores from them.
func FuzzRequests(f *testing.F) {
	e := newEnvOn(f, "127.0.0.1:1", dbtest.New(f))
	f.Fuzz(func(t *testing.T, op uint8, query string, token, body []byte) {
		e.t = t // inputs run one at a time
		fx := e.inputFixture()
		fill := strings.NewReplacer("$TENANT", fx.tenant, "$TICKET", fx.ticket, "$AUTOMATION", fx.automation,
			"$KEY", fx.otherKey, "$SCOPE", scopeOf("", "", "", ""))
		o := fuzzOps[int(op)%len(fuzzOps)]
		q := requestQuery(fill.Replace(query))
		if len(token) > 0 {
			if q != "" {
				q += "&"
			}
			q += "page_token=" + base64.RawURLEncoding.EncodeToString([]byte(fill.Replace(string(token))))
		}
		r := req{method: o.method, path: fx.path(o.path), key: fx.key}
		if q != "" {
			r.path += "?" + q
		}
		if o.body && len(body) > 0 {
			r.body = []byte(fill.Replace(string(body)))
		}
		resp := e.do(r)
		if resp.Status >= http.StatusInternalServerError {
			t.Fatalf("%s %s answered %d: %s\nlogs: %s", r.method, r.path, resp.Status, resp.Body, e.logs.String())
		}
		if resp.Status >= http.StatusBadRequest {
			if d := resp.apiError(t); d.Type == "" || d.Message == "" || d.Code != resp.Status {
				t.Fatalf("%s %s: error %d without the public shape: %s", r.method, r.path, resp.Status, resp.Body)
			}
		}
	})
}

// requestQuery percent-encodes what a request line cannot carry as is (spaces, controls,
// non-ASCII, #), and nothing else: malformed escapes and odd separators stay for the
// server to judge.
func requestQuery(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && !strings.ContainsRune("#\"<>\\^`{|}", rune(c)) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
