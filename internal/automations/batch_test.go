package automations

import (
	"context"
	"slices"
	"testing"

	"github.com/threada/threada/internal/domain"
)

// TestBatchedWritesKeepOrderAndOrigins: automations' ticket changes are written together
// at the end of a batch (store.FlushTicketWrites), and each ticket still sees them as if
// written one by one: in evaluation order, each event's previous state the one before it
// left, each stamped with the automation that made it; a change event no rule wants goes in
// processed; two tenants' tickets in one batch each get their own tenant's changes.
func TestBatchedWritesKeepOrderAndOrigins(t *testing.T) {
	f := newFixture(t)
	other := f.newTenant("https://hooks.example.com")
	tag := f.automation(f.tenant, "tag", "true", []string{domain.EventTicketCreated}, tags("a"))
	note := f.automation(f.tenant, "note", "true", []string{domain.EventTicketCreated},
		domain.AutomationAction{Type: domain.AutomationAddNote, Content: "on it"})
	react := f.automation(f.tenant, "react", `changed("tags") && has_tag("a")`, []string{domain.EventTicketUpdated}, tags("b"))
	f.automation(other, "other's", "true", []string{domain.EventTicketCreated}, tags("other"))
	var mine []string
	for range 5 {
		mine = append(mine, f.newTicketPending(f.tenant))
	}
	theirs := f.newTicketPending(other)
	f.drain() // one claim holds all six ticket.created events: one batch

	ctx := context.Background()
	for _, id := range mine {
		d, err := f.store.GetTicket(ctx, f.tenant, id, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Ticket.Tags, []string{"returns", "a", "b"}) || d.Ticket.MessageCount != 1 || len(d.Messages) != 1 || d.Messages[0].Content != "on it" {
			t.Errorf("%s: tags %v, %d messages %v", id, d.Ticket.Tags, d.Ticket.MessageCount, d.Messages)
		}
		var evs []struct {
			Type       string
			CausedBy   *string
			PrevTags   []string `bun:"prev_tags,array"`
			Tags       []string `bun:"tags,array"`
			Processed  bool
			Attempts   int
			MsgCount   int
			PrevMsgCnt int
		}
		if err := f.store.DB().NewRaw(`SELECT type, caused_by,
				ARRAY(SELECT jsonb_array_elements_text(coalesce(payload->'previous'->'Tags', '[]'))) AS prev_tags,
				ARRAY(SELECT jsonb_array_elements_text(payload->'ticket'->'Tags')) AS tags,
				processed_at IS NOT NULL AS processed, attempts,
				(payload->'ticket'->>'MessageCount')::int AS msg_count, coalesce((payload->'previous'->>'MessageCount')::int, 0) AS prev_msg_cnt
			FROM ticket_events WHERE ticket_id = ? ORDER BY occurred_at, id`, id).Scan(ctx, &evs); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			by := ""
			if e.CausedBy != nil {
				by = *e.CausedBy
			}
			got = append(got, e.Type+" by "+by)
		}
		want := []string{"ticket.created by ", "ticket.updated by " + tag, "message.created by " + note, "ticket.updated by " + react}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: events %v, want %v", id, got, want)
		}
		if !slices.Equal(evs[1].PrevTags, []string{"returns"}) || !slices.Equal(evs[1].Tags, []string{"returns", "a"}) {
			t.Errorf("%s: the tag's event went %v -> %v", id, evs[1].PrevTags, evs[1].Tags)
		}
		if evs[2].PrevMsgCnt != 0 || evs[2].MsgCount != 1 || !slices.Equal(evs[2].PrevTags, []string{"returns", "a"}) {
			t.Errorf("%s: the note's event saw %+v: it must come after the tag", id, evs[2])
		}
		// No rule wants message.created here: it went in processed, never claimed.
		if !evs[2].Processed || evs[2].Attempts != 0 {
			t.Errorf("%s: the note's event: processed %v after %d attempts, want written processed", id, evs[2].Processed, evs[2].Attempts)
		}
		if evs[1].Attempts != 1 {
			t.Errorf("%s: the tag's event was wanted (react) and evaluated once; attempts %d", id, evs[1].Attempts)
		}
	}
	d, err := f.store.GetTicket(ctx, other, theirs, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Ticket.Tags, []string{"returns", "other"}) || d.Ticket.MessageCount != 0 {
		t.Errorf("the other tenant's ticket: tags %v, %d messages", d.Ticket.Tags, d.Ticket.MessageCount)
	}
	for _, a := range []string{tag, note} {
		for _, r := range f.runs(a) {
			for _, ra := range r.Actions {
				if ra.Error != "" {
					t.Errorf("run of %s: %+v", a, ra)
				}
			}
		}
	}
}

// TestBatchedWriteToAGoneTicket: a change deferred to the batch's end for a ticket that is
// no longer there is recorded on its run, as when written at once, and the batch's other
// changes still happen.
func TestBatchedWriteToAGoneTicket(t *testing.T) {
	f := newFixture(t)
	a := f.automation(f.tenant, "tag", "true", []string{domain.EventTicketCreated}, tags("a"))
	gone := f.newTicketPending(f.tenant)
	kept := f.newTicketPending(f.tenant)
	ctx := context.Background()
	if _, err := f.store.DB().NewRaw("UPDATE ticket_events SET ticket_id = 'tkt_gone' WHERE ticket_id = ?", gone).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	f.drain()
	var errs []string
	for _, r := range f.runs(a) {
		for _, ra := range r.Actions {
			errs = append(errs, ra.Error)
		}
	}
	slices.Sort(errs)
	if !slices.Equal(errs, []string{"", "No ticket tkt_gone exists."}) {
		t.Errorf("run errors %q", errs)
	}
	d, err := f.store.GetTicket(ctx, f.tenant, kept, 1)
	if err != nil || !slices.Contains(d.Ticket.Tags, "a") {
		t.Errorf("the other ticket: %+v %v", d, err)
	}
}
