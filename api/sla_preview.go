package main

import (
	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/simulate"
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
// active tickets as they are now (simulate.PreviewSLA): how many matched, and some of
// them with the targets their priority would get.
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
	var targets map[string]domain.SLATarget
	if in.Targets != nil {
		targets = *in.Targets
	}
	r, err := simulate.PreviewSLA(c.UserContext(), &s.store.Conn, keyOf(c).TenantID, *in.Condition, targets)
	if err != nil {
		return err
	}
	out := slaPreviewResponse{Evaluated: r.Evaluated, Matched: r.Matched, Errors: r.Errors, Complete: r.Complete,
		Samples: make([]slaPreviewSample, 0, len(r.Samples))}
	for _, m := range r.Samples {
		sample := slaPreviewSample{TicketID: m.Ticket.ID, Subject: m.Ticket.Subject, Priority: m.Ticket.Priority, Status: m.Ticket.Status}
		if m.Target != nil {
			v := targetViewOf(*m.Target)
			sample.Target = &v
		}
		out.Samples = append(out.Samples, sample)
	}
	return c.JSON(out)
}
