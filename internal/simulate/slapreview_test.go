package simulate

import (
	"fmt"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
)

// tickets are n tickets, most recently active first, with priorities in turn.
func tickets(n int, priorities ...string) []domain.Ticket {
	out := make([]domain.Ticket, n)
	for i := range out {
		out[i] = domain.Ticket{ID: fmt.Sprintf("tkt_%d", i), TenantID: "ten_1", Subject: fmt.Sprint("T ", i), Status: "open",
			Priority: priorities[i%len(priorities)], Tags: []string{"vip"}, LastMessageAt: at.Add(-time.Duration(i) * time.Minute)}
	}
	return out
}

// TestPreviewEvaluate: a preview counts the tickets a draft policy matches, each sample with
// the targets its priority would get; runtime errors count apart; past its deadline it
// stops and says it is incomplete.
func TestPreviewEvaluate(t *testing.T) {
	targets := map[string]domain.SLATarget{"urgent": {FirstReply: 30 * time.Minute, Resolution: 4 * time.Hour}}
	for _, tc := range []struct {
		name                     string
		condition                string
		tickets                  []domain.Ticket
		targets                  map[string]domain.SLATarget
		late                     bool
		evaluated, matched, errs int
		complete                 bool
		samples                  int
		targeted                 []string // the samples with a target
	}{
		{name: "targets by priority", condition: `ticket.priority in ["urgent", "high"] && "vip" in ticket.tags`,
			tickets: tickets(6, "urgent", "high", "low"), targets: targets,
			evaluated: 6, matched: 4, complete: true, samples: 4, targeted: []string{"tkt_0", "tkt_3"}},
		{name: "no targets in the draft", condition: `true`, tickets: tickets(3, "urgent"),
			evaluated: 3, matched: 3, complete: true, samples: 3},
		{name: "samples are capped", condition: `true`, tickets: tickets(30, "low"), targets: targets,
			evaluated: 30, matched: 30, complete: true, samples: PreviewSamples},
		{name: "runtime errors", condition: `int(ticket.subject) > 0`, tickets: tickets(2, "low"),
			evaluated: 2, errs: 2, complete: true},
		{name: "past the deadline", condition: `true`, tickets: tickets(2, "low"), late: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rules.Compile(domain.Rule{Condition: tc.condition})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			if tc.late {
				deadline = time.Now().Add(-time.Second)
			}
			p := newPreview(c, tc.targets, deadline)
			p.evaluate(tc.tickets)
			out := p.out
			if out.Evaluated != tc.evaluated || out.Matched != tc.matched || out.Errors != tc.errs || out.Complete != tc.complete || len(out.Samples) != tc.samples {
				t.Fatalf("evaluated %d matched %d errors %d complete %v samples %d", out.Evaluated, out.Matched, out.Errors, out.Complete, len(out.Samples))
			}
			var targeted []string
			for _, s := range out.Samples {
				if s.Target != nil {
					if *s.Target != tc.targets[s.Ticket.Priority] {
						t.Errorf("%s: target %+v", s.Ticket.ID, s.Target)
					}
					targeted = append(targeted, s.Ticket.ID)
				}
			}
			if fmt.Sprint(targeted) != fmt.Sprint(tc.targeted) {
				t.Errorf("samples with a target %v, want %v", targeted, tc.targeted)
			}
		})
	}
}
