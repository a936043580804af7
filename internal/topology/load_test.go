package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// apiClient calls the API processes with one key.
type apiClient struct {
	http *http.Client
	key  string
}

// do sends a request; status 0 means no answer (the process is down or died mid-request).
func (c *apiClient) do(base, method, path string, body any) (int, []byte) {
	return c.doKey(base, method, path, c.key, body)
}

func (c *apiClient) doKey(base, method, path, key string, body any) (int, []byte) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	req.Header.Set("X-Api-Key", key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// ledger is what the load was told: accepted actions and each ticket's acknowledged and
// attempted revisions.
type ledger struct {
	mu       sync.Mutex
	actions  []string
	tickets  map[string]*revisions
	outcomes map[string]int // "PATCH 200", "POST /actions no answer", ...
}

type revisions struct{ acked, tried int }

// load is one client: it creates a ticket now and then, changes its subject and runs an
// action on it, once a second, alternating the API processes.
func (l *ledger) load(c *apiClient, g int, base func(int) string, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var ticket string
	for cycle := 0; ; cycle++ {
		api := g + cycle
		if ticket == "" || cycle%10 == 0 {
			status, body := c.do(base(api), "POST", "/api/v1/public/tickets", map[string]any{
				"subject": fmt.Sprintf("load %d rev 0", g), "initial_message": map[string]any{"content": "hello"}})
			l.count("POST /tickets", status)
			var tk struct {
				Ticket struct {
					Summary struct {
						TicketID string `json:"ticket_id"`
					}
				}
			}
			if status == http.StatusCreated && json.Unmarshal(body, &tk) == nil {
				ticket = tk.Ticket.Summary.TicketID
				l.mu.Lock()
				l.tickets[ticket] = &revisions{}
				l.mu.Unlock()
			}
		}
		if ticket != "" {
			l.mu.Lock()
			revs := l.tickets[ticket]
			revs.tried++
			rev := revs.tried
			l.mu.Unlock()
			status, _ := c.do(base(api), "PATCH", "/api/v1/public/tickets/"+ticket, map[string]any{"subject": fmt.Sprintf("load %d rev %d", g, rev)})
			l.count("PATCH /tickets", status)
			if status == http.StatusOK {
				l.mu.Lock()
				revs.acked = rev
				l.mu.Unlock()
			}
			status, body := c.do(base(api+1), "POST", "/api/v1/public/tickets/"+ticket+"/actions", map[string]any{"payload": map[string]any{
				"type": "custom_http", "method": "POST", "url": "/hooks/direct", "timeout_ms": 2000, "max_attempts": 10,
				"body_json": fmt.Sprintf(`{"loader": %d, "rev": %d}`, g, rev)}})
			l.count("POST /actions", status)
			var act struct {
				Action struct {
					ActionID string `json:"action_id"`
				}
			}
			if status == http.StatusCreated && json.Unmarshal(body, &act) == nil {
				l.mu.Lock()
				l.actions = append(l.actions, act.Action.ActionID)
				l.mu.Unlock()
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func (l *ledger) count(what string, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if status == 0 {
		l.outcomes[what+" no answer"]++
		return
	}
	l.outcomes[fmt.Sprintf("%s %d", what, status)]++
}

func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for k, v := range l.outcomes {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
