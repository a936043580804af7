package main

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
)

// Preview limits: the tickets read (the most recently active first), per query, the samples
// answered, and how long evaluation may take.
const (
	maxPreviewTickets = 1_000
	previewPage       = 250
	previewSamples    = 20
	previewTime       = 2 * time.Second
)

type slaPreviewRequest struct {
	Condition *string                        `json:"condition"`
	Targets   *map[string]map[string]*string `json:"targets"`
}

type slaPreviewSample struct {
	TicketID string      `json:"ticket_id"`
	Subject  string      `json:"subject"`
	Priority string      `json:"priority"`
	Status   string      `json:"status"`
	Target   *targetView `json:"target"`
}

type slaPreviewResponse struct {
	Evaluated int                `json:"evaluated"`
	Matched   int                `json:"matched"`
	Errors    int                `json:"errors"`
	Complete  bool               `json:"complete"`
	Samples   []slaPreviewSample `json:"samples"`
}

// previewSLAPolicy handles POST /sla-policies/preview: a draft policy's condition (and
// optionally its targets; nothing is saved) evaluated against the tenant's most recently
// active tickets as they are now, at most maxPreviewTickets of them and for at most
// previewTime, with the rules environment and budget the SLA engine uses. It answers how
// many matched and up to previewSamples of them, each with the targets its priority would
// get. The ticket is seen as a ticket.updated event with no changes.
func (s *server) previewSLAPolicy(c *fiber.Ctx) error {
	var req slaPreviewRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Condition == nil {
		return domain.Invalidf("condition", "`condition` is required.")
	}
	in, err := checkSLAInput(&slaPolicyRequest{Condition: req.Condition, Targets: req.Targets}, false)
	if err != nil {
		return err
	}
	compiled, err := rules.Compile(domain.Rule{Condition: *in.Condition})
	if err != nil {
		return err
	}
	var targets map[string]domain.SLATarget
	if in.Targets != nil {
		targets = *in.Targets
	}
	ctx := c.UserContext()
	tenantID := keyOf(c).TenantID
	out := slaPreviewResponse{Samples: []slaPreviewSample{}, Complete: true}
	deadline := time.Now().Add(previewTime)
	var machine rules.Machine
	var after *domain.TicketCursor
	for out.Evaluated < maxPreviewTickets {
		tickets, more, err := s.store.ListTickets(ctx, tenantID, domain.TicketFilter{}, after, min(previewPage, maxPreviewTickets-out.Evaluated))
		if err != nil {
			return err
		}
		for i := range tickets {
			if time.Now().After(deadline) {
				out.Complete = false
				return c.JSON(out)
			}
			t := &tickets[i]
			out.Evaluated++
			eval := compiled.Evaluate(&machine, rules.NewEnv(previewEvent(t)), rules.MatchOnly)
			switch {
			case eval.Err != nil:
				out.Errors++
			case eval.Matched:
				out.Matched++
				if len(out.Samples) < previewSamples {
					out.Samples = append(out.Samples, previewSampleOf(t, targets))
				}
			}
		}
		if !more {
			return c.JSON(out)
		}
		last := tickets[len(tickets)-1]
		after = &domain.TicketCursor{LastMessageAt: last.LastMessageAt, ID: last.ID}
	}
	// Stopped at the cap: older tickets were left out.
	out.Complete = false
	return c.JSON(out)
}

// previewEvent is the event a preview evaluates a ticket in: an update that changed nothing.
func previewEvent(t *domain.Ticket) *domain.TicketEvent {
	prev := *t
	return &domain.TicketEvent{ID: "evt_preview", TenantID: t.TenantID, TicketID: t.ID, Type: domain.EventTicketUpdated,
		OccurredAt: nowUTC(), Ticket: *t, Previous: &prev, Changes: map[string]domain.FieldChange{}}
}

func previewSampleOf(t *domain.Ticket, targets map[string]domain.SLATarget) slaPreviewSample {
	sample := slaPreviewSample{TicketID: t.ID, Subject: t.Subject, Priority: t.Priority, Status: t.Status}
	if tg, ok := targets[t.Priority]; ok {
		sample.Target = &targetView{FirstReply: durationText(tg.FirstReply), Resolution: durationText(tg.Resolution)}
	}
	return sample
}
