package automations

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/cpuuse"
	"github.com/threada/threada/internal/domain"
)

// TestOutboxCatchUp (make bench, THREADA_BENCH=1) measures how fast workers consume a
// backlog of OUTBOX_BACKLOG (20,000) ticket.created events, each for its own ticket, by
// the kind of rule the tenant has on ticket.created: one that evaluates every event and
// matches none, one that tags the ticket (set_fields), one that adds a note, one that calls
// a URL (custom_http: the action's row; its workflow starts after commit, off the outbox's
// path, which the actions table measures), and none at all (the claim consumes the event);
// and the set_fields case beside 10,000 tenants that have nothing pending.
// Beside events/s: the CPU PostgreSQL and this process (the engine) used per event.
func TestOutboxCatchUp(t *testing.T) {
	if os.Getenv("THREADA_BENCH") == "" {
		t.Skip("a benchmark: make bench runs it")
	}
	backlog := 20_000
	if n, err := strconv.Atoi(os.Getenv("OUTBOX_BACKLOG")); err == nil {
		backlog = n
	}
	for _, tc := range []struct {
		name    string
		action  *domain.AutomationAction
		cond    string
		workers int
		idle    int // other tenants, with nothing pending
	}{
		{"evaluates, matches none", &domain.AutomationAction{Type: domain.AutomationSetFields, AddTags: []string{"seen"}}, `ticket.priority == "urgent" && has_tag("vip")`, 1, 0},
		{"set_fields (adds a tag)", &domain.AutomationAction{Type: domain.AutomationSetFields, AddTags: []string{"seen"}}, "true", 1, 0},
		{"set_fields (adds a tag), two workers", &domain.AutomationAction{Type: domain.AutomationSetFields, AddTags: []string{"seen"}}, "true", 2, 0},
		{"set_fields (adds a tag), beside 10,000 tenants with nothing pending", &domain.AutomationAction{Type: domain.AutomationSetFields, AddTags: []string{"seen"}}, "true", 1, 10_000},
		{"add_note", &domain.AutomationAction{Type: domain.AutomationAddNote, Content: "Thanks, we are on it."}, "true", 1, 0},
		{"custom_http (the action's row)", &domain.AutomationAction{Type: domain.AutomationCustomHTTP, URL: "/hooks/new", Method: "POST"}, "true", 1, 0},
		{"no automation on the event (claim only)", nil, "", 1, 0},
	} {
		if only := os.Getenv("OUTBOX_CASE"); only != "" && !strings.Contains(tc.name, only) { // by hand
			continue
		}
		f := newFixture(t)
		f.engine.Start = nil // custom_http: left to start after commit by the worker's runner
		template := f.newTicketPending(f.tenant)
		ctx := context.Background()
		// The backlog: copies of that ticket and its event, each event for its own ticket,
		// so that no ticket's order holds them back.
		if _, err := f.store.DB().ExecContext(ctx, `
			INSERT INTO tickets (id, tenant_id, subject, status, priority, channel, tags, message_count, created_at, updated_at, last_message_at)
			SELECT t.id || '_' || i, t.tenant_id, t.subject, t.status, t.priority, t.channel, t.tags, t.message_count, t.created_at, t.updated_at, t.last_message_at
			FROM tickets t, generate_series(1, ?) AS i WHERE t.id = ?`, backlog-1, template); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.DB().ExecContext(ctx, `
			INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, chain, payload, occurred_at)
			SELECT e.id || '_' || i, e.tenant_id, e.ticket_id || '_' || i, e.type, e.actor, e.depth, e.chain, e.payload,
				e.occurred_at + i * interval '1 microsecond'
			FROM ticket_events e, generate_series(1, ?) AS i
			WHERE e.processed_at IS NULL`, backlog-1); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.DB().ExecContext(ctx, `
			INSERT INTO tenants (id, name, created_at) SELECT 'ten_idle_' || i, 'idle', now() FROM generate_series(1, ?) AS i`, tc.idle); err != nil {
			t.Fatal(err)
		}
		if tc.action != nil {
			f.automation(f.tenant, tc.name, tc.cond, []string{domain.EventTicketCreated}, *tc.action)
		}
		if _, err := f.store.DB().ExecContext(ctx, "ANALYZE ticket_events; ANALYZE tickets"); err != nil {
			t.Fatal(err)
		}
		db, self := cpuuse.Seconds(cpuuse.Named("postgres")...), cpuuse.Seconds(os.Getpid())
		start := time.Now()
		done := make(chan struct{})
		for range tc.workers {
			go func() { f.engine.Drain(ctx); done <- struct{}{} }()
		}
		for range tc.workers {
			<-done
		}
		elapsed := time.Since(start)
		db, self = cpuuse.Seconds(cpuuse.Named("postgres")...)-db, cpuuse.Seconds(os.Getpid())-self
		if n, err := f.store.PendingEvents(ctx); err != nil || n != 0 {
			t.Fatalf("%d events left (%v)", n, err)
		}
		// What the rule did, once per event.
		var effects int
		if err := f.store.DB().NewRaw(`SELECT CASE ?
			WHEN 'set_fields' THEN (SELECT count(*) FROM tickets WHERE tags @> '{seen}')
			WHEN 'add_note' THEN (SELECT count(*) FROM messages WHERE role = 'note')
			WHEN 'custom_http' THEN (SELECT count(*) FROM actions)
			ELSE 0 END`, actionType(tc.action, tc.cond)).Scan(ctx, &effects); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: backlog}[actionType(tc.action, tc.cond) != ""]; effects != want {
			t.Fatalf("%s: %d effects, want %d", tc.name, effects, want)
		}
		perEvent := func(s float64) string { return fmt.Sprintf("%.0f µs", s/float64(backlog)*1e6) }
		fmt.Printf("| %s | %d | %d | %.2f s | %.0f | %s | %s |\n", tc.name, tc.workers, backlog, elapsed.Seconds(),
			float64(backlog)/elapsed.Seconds(), perEvent(db), perEvent(self))
	}
}

// actionType is the type of a rule's action when the rule matches every event, else "".
func actionType(a *domain.AutomationAction, cond string) string {
	if a == nil || cond != "true" {
		return ""
	}
	return a.Type
}
