package topology

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// neighbours are two more tenants beside the load's: bulk replays thousands of actions
// against a receiver that answers in a second, across both workers, while quiet sends one
// action a second and waits for it (Prefer: wait). quiet's actions must keep their latency
// bound: p95 beside the load and the replay within 3x of quiet's p95 beside the load
// before the replay began, and under 2 s.
type neighbours struct {
	bulk, quiet *apiClient
	quietTicket string
	bulkTicket  string
	slowURL     string

	mu        sync.Mutex
	alone     []time.Duration // before the load
	before    []time.Duration // beside the load, before the replay
	loaded    []time.Duration // beside the load and the replay
	excluded  int             // samples that overlapped the crash window
	failed    []string
	replayID  string
	bulkCount int
}

// replayed is how many finished actions bulk's replay covers.
const replayed = 5000

// newNeighbours creates the two tenants through the CLI (cli: api's command line) and their
// tickets, and gives bulk its finished actions (one sent, cloned in SQL).
func newNeighbours(t *testing.T, cli func(args ...string) []byte, db *sql.DB, base func(int) string) *neighbours {
	t.Helper()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slow.Close)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(fast.Close)
	n := &neighbours{slowURL: slow.URL}
	tenant := func(name, baseURL string) (string, *apiClient) {
		var tn struct {
			TenantID string `json:"tenant_id"`
		}
		mustJSON(t, cli("tenant", "create", "--name", name, "--actions-base-url", baseURL), &tn)
		var key struct {
			APIKey string `json:"api_key"`
		}
		mustJSON(t, cli("key", "create", "--tenant", tn.TenantID, "--name", name,
			"--scopes", "support.read,support.write,support.actions,admin.actions"), &key)
		return tn.TenantID, &apiClient{http: &http.Client{Timeout: 30 * time.Second}, key: key.APIKey}
	}
	var bulkTenant string
	bulkTenant, n.bulk = tenant("Bulk", slow.URL)
	_, n.quiet = tenant("Quiet", fast.URL)
	n.bulkTicket = n.ticket(t, n.bulk, base(0))
	n.quietTicket = n.ticket(t, n.quiet, base(0))
	first := n.action(t, n.bulk, base(0), n.bulkTicket)
	if _, err := db.Exec(`INSERT INTO actions (id, tenant_id, ticket_id, action_type, status, requested_by, payload, request,
			attempts, workflow_started, created_at, updated_at, completed_at)
		SELECT 'act_' || lpad(n::text, 26, '0'), tenant_id, ticket_id, action_type, status, requested_by, payload, request,
			attempts, true, now() - n * interval '1 ms', now(), now()
		FROM actions, generate_series(1, $1::int) AS n WHERE id = $2 AND tenant_id = $3`, replayed-1, first, bulkTenant); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *neighbours) ticket(t *testing.T, c *apiClient, base string) string {
	t.Helper()
	status, body := c.do(base, "POST", "/api/v1/public/tickets", map[string]any{"subject": "neighbour"})
	var tk struct {
		Ticket struct {
			Summary struct {
				TicketID string `json:"ticket_id"`
			}
		}
	}
	if status != http.StatusCreated || json.Unmarshal(body, &tk) != nil {
		t.Fatalf("ticket: %d %s", status, body)
	}
	return tk.Ticket.Summary.TicketID
}

// action sends one action, waits for it and returns its id once it succeeded.
func (n *neighbours) action(t *testing.T, c *apiClient, base, ticket string) string {
	t.Helper()
	id, status, err := n.send(c, base, ticket)
	if err != nil || status != "succeeded" {
		t.Fatalf("action: %s %v", status, err)
	}
	return id
}

// send posts an action with Prefer: wait and returns its id and status.
func (n *neighbours) send(c *apiClient, base, ticket string) (string, string, error) {
	body, _ := json.Marshal(map[string]any{"payload": map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/neighbour"}})
	req, _ := http.NewRequest("POST", base+"/api/v1/public/tickets/"+ticket+"/actions", bytes.NewReader(body))
	req.Header.Set("X-Api-Key", c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "wait=20")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var out struct {
		Action struct {
			ActionID string `json:"action_id"`
			Status   string `json:"status"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("%d %v", resp.StatusCode, err)
	}
	return out.Action.ActionID, out.Action.Status, nil
}

// measureAlone takes quiet's latency before anything else runs.
func (n *neighbours) measureAlone(t *testing.T, base func(int) string) {
	for i := range 10 {
		start := time.Now()
		n.action(t, n.quiet, base(i), n.quietTicket)
		n.alone = append(n.alone, time.Since(start))
	}
}

// startReplay starts bulk's replay of everything it has, at the fastest rate allowed.
func (n *neighbours) startReplay(t *testing.T, base string) {
	t.Helper()
	now := time.Now().UTC()
	status, body := n.bulk.do(base, "POST", "/api/v1/admin/action-replays", map[string]any{
		"filter":          map[string]any{"since": now.Add(-time.Hour).Format(time.RFC3339), "until": now.Add(time.Minute).Format(time.RFC3339)},
		"rate_per_second": 100})
	var out struct {
		Replay struct {
			ReplayID string `json:"replay_id"`
		}
	}
	if status != http.StatusCreated || json.Unmarshal(body, &out) != nil {
		t.Fatalf("bulk replay: %d %s", status, body)
	}
	n.replayID = out.Replay.ReplayID
}

// load sends quiet's actions, one a second over both API processes, until stop; a sample
// that began or ended within the crash window [from, to) is left out (its attempt may have
// been on the worker that was killed), and one before replayAt counts as before the replay.
func (n *neighbours) load(base func(int) string, loadStart time.Time, from, to, replayAt time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		start := time.Now()
		id, status, err := n.send(n.quiet, base(i), n.quietTicket)
		took := time.Since(start)
		crash := start.Before(loadStart.Add(to)) && time.Now().After(loadStart.Add(from))
		n.mu.Lock()
		switch {
		case crash:
			n.excluded++
		case err != nil || status != "succeeded":
			n.failed = append(n.failed, fmt.Sprintf("%s %s %v after %v", id, status, err, took))
		case start.Before(loadStart.Add(replayAt)):
			n.before = append(n.before, took)
		default:
			n.loaded = append(n.loaded, took)
		}
		n.mu.Unlock()
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// check holds quiet to its bound, and says how far bulk's replay got meanwhile.
func (n *neighbours) check(t *testing.T, db *sql.DB) {
	t.Helper()
	if err := db.QueryRow(`SELECT replayed FROM action_replay_batches WHERE id = $1`, n.replayID).Scan(&n.bulkCount); err != nil {
		t.Error(err)
	}
	alone, before, loaded := p95(n.alone), p95(n.before), p95(n.loaded)
	t.Logf("quiet tenant: p95 %v alone, %v beside the load (%d samples), %v beside the load and the bulk replay (%d samples; %d left out around the crash); bulk replayed %d of %d",
		alone.Round(time.Millisecond), before.Round(time.Millisecond), len(n.before), loaded.Round(time.Millisecond), len(n.loaded), n.excluded, n.bulkCount, replayed)
	if len(n.failed) > 0 {
		t.Errorf("quiet's actions that did not succeed: %v", n.failed)
	}
	if loaded > 3*before || loaded > 2*time.Second {
		t.Errorf("quiet's p95 %v beside the bulk replay, %v before it: want within 3x and under 2 s (all: %v)", loaded, before, n.loaded)
	}
	if n.bulkCount == 0 {
		t.Error("the bulk replay replayed nothing: it was no load")
	}
}

func p95(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[max(int(float64(len(s))*0.95+0.5)-1, 0)]
}
