package simulate

import (
	"fmt"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
)

// pastEvents are n ticket.created events, newest first, with priorities in turn.
func pastEvents(n int, priorities ...string) []*domain.TicketEvent {
	out := make([]*domain.TicketEvent, n)
	for i := range out {
		t := domain.Ticket{ID: fmt.Sprintf("tkt_%d", i), Subject: fmt.Sprint("T ", i), Priority: priorities[i%len(priorities)], Tags: []string{}}
		out[i] = &domain.TicketEvent{ID: fmt.Sprintf("evt_%d", i), TicketID: t.ID, Type: domain.EventTicketCreated,
			OccurredAt: at.Add(-time.Duration(i) * time.Minute), Ticket: t, Changes: domain.Diff(nil, &t)}
	}
	return out
}

// TestBacktestEvaluate: a backtest counts matches and errors, and keeps the newest matches
// (at most BacktestSamples) with their explanation and actions; past its deadline it stops
// and says it is incomplete.
func TestBacktestEvaluate(t *testing.T) {
	tenant := &domain.Tenant{ID: "ten_1"}
	tag := []domain.AutomationAction{{Type: domain.AutomationSetFields, AddTags: []string{"escalated"}}}
	for _, tc := range []struct {
		name                      string
		condition                 string
		events                    []*domain.TicketEvent
		pages                     int // the events come in this many pages
		late                      bool
		evaluated, matched, errs  int
		complete                  bool
		samples                   int
		firstSample, firstExplain string
	}{
		{name: "some match", condition: `ticket.priority == "urgent"`, events: pastEvents(6, "urgent", "normal", "low"), pages: 1,
			evaluated: 6, matched: 2, complete: true, samples: 2, firstSample: "evt_0",
			firstExplain: `ticket.priority == "urgent" -> true (ticket.priority = "urgent")`},
		{name: "samples are the newest matches, over pages", condition: `ticket.priority != "low"`, events: pastEvents(60, "urgent", "low"), pages: 3,
			evaluated: 60, matched: 30, complete: true, samples: BacktestSamples, firstSample: "evt_0",
			firstExplain: `ticket.priority != "low" -> true (ticket.priority = "urgent")`},
		{name: "runtime errors are counted, not matched", condition: `int(ticket.subject) > 0 || ticket.priority == "low"`, events: pastEvents(4, "urgent", "low"), pages: 1,
			evaluated: 4, matched: 0, errs: 4, complete: true},
		{name: "past the deadline", condition: `true`, events: pastEvents(3, "urgent"), pages: 1, late: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rules.Compile(domain.Rule{Condition: tc.condition, Actions: tag})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			if tc.late {
				deadline = time.Now().Add(-time.Second)
			}
			b := newBacktest(c, tenant, at.Add(-24*time.Hour), deadline)
			per := len(tc.events) / tc.pages
			for i := 0; i < len(tc.events); i += per {
				if !b.evaluate(tc.events[i:min(i+per, len(tc.events))]) {
					break
				}
			}
			out := b.out
			if out.Evaluated != tc.evaluated || out.Matched != tc.matched || out.Errors != tc.errs || out.Complete != tc.complete ||
				len(out.Samples) != tc.samples || !out.Since.Equal(at.Add(-24*time.Hour)) {
				t.Fatalf("evaluated %d matched %d errors %d complete %v samples %d", out.Evaluated, out.Matched, out.Errors, out.Complete, len(out.Samples))
			}
			if tc.samples == 0 {
				return
			}
			s := out.Samples[0]
			if s.EventID != tc.firstSample || s.EventType != domain.EventTicketCreated || s.TicketID != "tkt_0" || !s.OccurredAt.Equal(at) ||
				s.Explanation == nil || s.Explanation.String() != tc.firstExplain {
				t.Errorf("first sample %+v (%v)", s, s.Explanation)
			}
			if len(s.Actions) != 1 || s.Actions[0].TagsAfter[0] != "escalated" {
				t.Errorf("first sample's actions %+v", s.Actions)
			}
		})
	}
}
