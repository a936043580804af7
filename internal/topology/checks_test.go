package topology

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// checkRevocation issues a key through API a, uses it on API b (so b has it cached),
// revokes it through API a and returns how long API b went on accepting it.
func checkRevocation(t *testing.T, c *apiClient, base func(int) string) time.Duration {
	t.Helper()
	status, body := c.do(base(0), "POST", "/api/v1/admin/api-keys", map[string]any{"name": "to revoke", "scopes": []string{"support.read"}})
	if status != http.StatusCreated {
		t.Fatalf("creating a key: %d %s", status, body)
	}
	var k struct {
		Key struct {
			KeyID string `json:"key_id"`
		}
		APIKey string `json:"api_key"`
	}
	mustJSON(t, body, &k)
	if status, body := c.doKey(base(1), "GET", "/api/v1/public/tickets?limit=1", k.APIKey, nil); status != http.StatusOK {
		t.Fatalf("the new key on api b: %d %s", status, body)
	}
	if status, body := c.do(base(0), "POST", "/api/v1/admin/api-keys/"+k.Key.KeyID+"/revoke", nil); status != http.StatusOK {
		t.Fatalf("revoking: %d %s", status, body)
	}
	revoked := time.Now()
	for {
		status, body := c.doKey(base(1), "GET", "/api/v1/public/tickets?limit=1", k.APIKey, nil)
		took := time.Since(revoked)
		switch {
		case status == http.StatusUnauthorized:
			if took > time.Second {
				t.Errorf("api b accepted a key revoked through api a for %v, want under 1 s", took)
			}
			return took
		case status != http.StatusOK:
			t.Fatalf("the revoked key on api b: %d %s", status, body)
		case took > 5*time.Second:
			t.Fatalf("api b still accepts a key revoked through api a %v ago", took)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDrained waits until every action is finished and has reached the receiver, and every
// ticket event is processed.
func waitDrained(db *sql.DB, rc *receiver, tenantID string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var unfinished, unprocessed int
		err := db.QueryRow(`SELECT
			(SELECT count(*) FROM actions WHERE tenant_id = $1 AND status NOT IN ('succeeded', 'failed', 'canceled', 'timed_out')),
			(SELECT count(*) FROM ticket_events WHERE tenant_id = $1 AND processed_at IS NULL)`, tenantID).Scan(&unfinished, &unprocessed)
		undelivered := 0
		if err == nil {
			ids, qerr := actionIDs(db, tenantID)
			err = qerr
			for _, id := range ids {
				if !rc.delivered(id) {
					undelivered++
				}
			}
		}
		if err == nil && unfinished == 0 && unprocessed == 0 && undelivered == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d actions unfinished, %d not delivered, %d events unprocessed (err %v)", unfinished, undelivered, unprocessed, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func actionIDs(db *sql.DB, tenantID string) ([]string, error) {
	rows, err := db.Query(`SELECT id FROM actions WHERE tenant_id = $1`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// checkActions: every action the API accepted, and every action an automation started,
// succeeded and reached the receiver; the receiver got nothing else; a key arrived more
// than once only as distinct attempts (the README's contract: at least once, the same
// Idempotency-Key on every attempt, a killed worker's attempt counting as failed).
func checkActions(t *testing.T, db *sql.DB, rc *receiver, led *ledger, tenantID, automationID string) {
	t.Helper()
	rows, err := db.Query(`SELECT id, status, attempts, requested_by FROM actions WHERE tenant_id = $1`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type action struct {
		status, requestedBy string
		attempts            int
	}
	stored := map[string]action{}
	byAutomation := 0
	for rows.Next() {
		var id string
		var a action
		if err := rows.Scan(&id, &a.status, &a.attempts, &a.requestedBy); err != nil {
			t.Fatal(err)
		}
		stored[id] = a
		if a.requestedBy == "automation:"+automationID {
			byAutomation++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	calls, badSigned := rc.snapshot()
	led.mu.Lock()
	accepted := slices.Clone(led.actions)
	led.mu.Unlock()
	for _, id := range accepted {
		if _, ok := stored[id]; !ok {
			t.Errorf("accepted action %s is not stored", id)
		}
	}
	missing, repeated, retried := 0, 0, 0
	for id, a := range stored {
		if a.attempts > 1 {
			retried++
		}
		got := calls[id]
		switch {
		case len(got) == 0:
			missing++
			t.Errorf("action %s (%s, %s) never reached the receiver", id, a.requestedBy, a.status)
		case len(got) > 1:
			repeated++
			t.Logf("action %s reached the receiver %d times, attempts %v (%s after %d attempts)", id, len(got), got, a.status, a.attempts)
			if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
				t.Errorf("action %s: one attempt reached the receiver twice: %v", id, got)
			}
		}
		if a.status != "succeeded" {
			t.Errorf("action %s is %s after %d attempts", id, a.status, a.attempts)
		}
	}
	for id := range calls {
		if _, ok := stored[id]; !ok {
			t.Errorf("the receiver got a call with Idempotency-Key %q, which is no action", id)
		}
	}
	if badSigned > 0 {
		t.Errorf("%d calls had no valid signature", badSigned)
	}
	t.Logf("actions: %d accepted by the API, %d started by the automation, %d stored, %d of them after more than one attempt; %d distinct keys delivered, %d missing, %d delivered more than once",
		len(accepted), byAutomation, len(stored), retried, len(calls), missing, repeated)
}

// checkEvaluations: every ticket.updated event was processed and has exactly one run of
// the automation, and each run that matched started exactly one action.
func checkEvaluations(t *testing.T, db *sql.DB, tenantID, automationID string) {
	t.Helper()
	var events, wrongRuns, failedRuns, matched, started int
	err := db.QueryRow(`SELECT
		(SELECT count(*) FROM ticket_events WHERE tenant_id = $1 AND type = 'ticket.updated'),
		(SELECT count(*) FROM ticket_events e WHERE e.tenant_id = $1 AND e.type = 'ticket.updated'
			AND (SELECT count(*) FROM automation_runs r WHERE r.event_id = e.id AND r.automation_id = $2) <> 1),
		(SELECT count(*) FROM automation_runs WHERE tenant_id = $1 AND error IS NOT NULL),
		(SELECT count(*) FROM automation_runs WHERE automation_id = $2 AND matched AND skipped IS NULL AND error IS NULL),
		(SELECT count(*) FROM actions WHERE tenant_id = $1 AND requested_by = 'automation:' || $2)`,
		tenantID, automationID).Scan(&events, &wrongRuns, &failedRuns, &matched, &started)
	if err != nil {
		t.Fatal(err)
	}
	if wrongRuns > 0 {
		t.Errorf("%d of %d ticket.updated events do not have exactly one run", wrongRuns, events)
	}
	if failedRuns > 0 {
		t.Errorf("%d runs recorded an error", failedRuns)
	}
	if matched != started {
		t.Errorf("%d runs matched but the automation started %d actions", matched, started)
	}
	t.Logf("automation: %d ticket.updated events, each evaluated once; %d matched, %d actions started", events, matched, started)
}

// checkTickets reads every acknowledged ticket back through the API: its subject is the
// last acknowledged revision or a later one that was sent without an answer, and the
// automation's tag is on it.
func checkTickets(t *testing.T, c *apiClient, base func(int) string, led *ledger) {
	t.Helper()
	led.mu.Lock()
	tickets := make(map[string]revisions, len(led.tickets))
	for id, r := range led.tickets {
		tickets[id] = *r
	}
	led.mu.Unlock()
	for id, want := range tickets {
		status, body := c.do(base(1), "GET", "/api/v1/public/tickets/"+id, nil)
		if status != http.StatusOK {
			t.Errorf("ticket %s, created with 201: %d %s", id, status, body)
			continue
		}
		var tk struct {
			Ticket struct {
				Summary struct {
					Subject string
					Tags    []string
				}
			}
		}
		mustJSON(t, body, &tk)
		var g, rev int
		if _, err := fmt.Sscanf(tk.Ticket.Summary.Subject, "load %d rev %d", &g, &rev); err != nil || rev < want.acked || rev > want.tried {
			t.Errorf("ticket %s has subject %q; acknowledged rev %d, sent up to %d", id, tk.Ticket.Summary.Subject, want.acked, want.tried)
		}
		if want.acked > 0 && !slices.Contains(tk.Ticket.Summary.Tags, "automated") {
			t.Errorf("ticket %s lacks the automation's tag: %v", id, tk.Ticket.Summary.Tags)
		}
	}
	t.Logf("tickets: %d created, each read back with its last acknowledged change", len(tickets))
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}
