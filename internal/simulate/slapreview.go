package simulate

import (
	"context"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
	"github.com/threada/threada/internal/store"
)

// SLAPreview counts the tickets a draft SLA policy matches, with up to PreviewSamples of
// them.
type SLAPreview struct {
	Evaluated int
	Matched   int
	Errors    int
	Complete  bool // every ticket of the tenant was evaluated
	Samples   []SLAPreviewSample
}

// SLAPreviewSample is a ticket the draft matches, with the targets its priority would get
// (nil when the draft sets none for it).
type SLAPreviewSample struct {
	Ticket domain.Ticket
	Target *domain.SLATarget
}

// Preview limits: the tickets read (the most recently active first), per query, the samples
// answered, and how long evaluation may take.
const (
	MaxPreviewTickets = 1_000
	PreviewSamples    = 20
	previewPage       = 250
	previewTime       = 2 * time.Second
)

// PreviewSLA evaluates a draft policy's condition (checked, see CheckCondition) against
// the tenant's most recently active tickets as they are now, at most MaxPreviewTickets of
// them and for at most previewTime, with the environment and budget the SLA engine uses.
// A ticket is seen as a ticket.updated event with no changes.
func PreviewSLA(ctx context.Context, db *store.Conn, tenantID, condition string, targets map[string]domain.SLATarget) (*SLAPreview, error) {
	compiled, err := rules.Compile(domain.Rule{Condition: condition})
	if err != nil {
		return nil, err
	}
	p := newPreview(compiled, targets, time.Now().Add(previewTime))
	var after *domain.TicketCursor
	for p.out.Evaluated < MaxPreviewTickets {
		tickets, more, err := db.ListTickets(ctx, tenantID, domain.TicketFilter{}, after, min(previewPage, MaxPreviewTickets-p.out.Evaluated))
		if err != nil {
			return nil, err
		}
		if !p.evaluate(tickets) || !more {
			return &p.out, nil
		}
		last := tickets[len(tickets)-1]
		after = &domain.TicketCursor{LastMessageAt: last.LastMessageAt, ID: last.ID}
	}
	// Stopped at the cap: older tickets were left out.
	p.out.Complete = false
	return &p.out, nil
}

// preview is an SLA preview under way.
type preview struct {
	compiled *rules.Compiled
	targets  map[string]domain.SLATarget
	deadline time.Time
	machine  rules.Machine
	out      SLAPreview
}

func newPreview(compiled *rules.Compiled, targets map[string]domain.SLATarget, deadline time.Time) *preview {
	return &preview{compiled: compiled, targets: targets, deadline: deadline,
		out: SLAPreview{Samples: []SLAPreviewSample{}, Complete: true}}
}

// evaluate evaluates tickets (most recently active first) and counts them. It returns
// false, the result incomplete, once the deadline passed.
func (p *preview) evaluate(tickets []domain.Ticket) bool {
	for i := range tickets {
		if time.Now().After(p.deadline) {
			p.out.Complete = false
			return false
		}
		t := &tickets[i]
		p.out.Evaluated++
		eval := p.compiled.Evaluate(&p.machine, rules.NewEnv(previewEvent(t)), rules.MatchOnly)
		switch {
		case eval.Err != nil:
			p.out.Errors++
		case eval.Matched:
			p.out.Matched++
			if len(p.out.Samples) < PreviewSamples {
				sample := SLAPreviewSample{Ticket: *t}
				if tg, ok := p.targets[t.Priority]; ok {
					sample.Target = &tg
				}
				p.out.Samples = append(p.out.Samples, sample)
			}
		}
	}
	return true
}

// previewEvent is the event a preview evaluates a ticket in: an update that changed
// nothing, now (to the second, as the API shows times).
func previewEvent(t *domain.Ticket) *domain.TicketEvent {
	prev := *t
	return &domain.TicketEvent{ID: "evt_preview", TenantID: t.TenantID, TicketID: t.ID, Type: domain.EventTicketUpdated,
		OccurredAt: time.Now().UTC().Truncate(time.Second), Ticket: *t, Previous: &prev, Changes: map[string]domain.FieldChange{}}
}
