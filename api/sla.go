package main

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/simulate"
	"github.com/threada/threada/internal/store"
)

// targetView is a priority's targets as Go durations ("4h0m0s"); null for none.
type targetView struct {
	FirstReply *string `json:"first_reply"`
	Resolution *string `json:"resolution"`
}

type slaPolicyView struct {
	SLAPolicyID    string                   `json:"sla_policy_id"`
	TenantID       string                   `json:"tenant_id"`
	Name           string                   `json:"name"`
	Enabled        bool                     `json:"enabled"`
	Condition      string                   `json:"condition"`
	Position       int                      `json:"position"`
	Targets        map[string]targetView    `json:"targets"`
	WarningPercent int                      `json:"warning_percent"`
	BusinessHours  *domain.BusinessCalendar `json:"business_hours"`
	Version        int                      `json:"version"`
	CreatedAt      timestamp                `json:"created_at"`
	UpdatedAt      timestamp                `json:"updated_at"`
}

type slaPolicyEnvelope struct {
	SLAPolicy slaPolicyView `json:"sla_policy"`
}

func targetViewOf(t domain.SLATarget) targetView {
	return targetView{FirstReply: durationText(t.FirstReply), Resolution: durationText(t.Resolution)}
}

func durationText(d time.Duration) *string {
	if d == 0 {
		return nil
	}
	s := d.String()
	return &s
}

func slaPolicyViewOf(p *domain.SLAPolicy) slaPolicyView {
	v := slaPolicyView{SLAPolicyID: p.ID, TenantID: p.TenantID, Name: p.Name, Enabled: p.Enabled, Condition: p.Condition,
		Position: p.Position, Targets: map[string]targetView{}, WarningPercent: p.WarningPercent, BusinessHours: p.Calendar,
		Version: p.Version, CreatedAt: timestamp(p.CreatedAt), UpdatedAt: timestamp(p.UpdatedAt)}
	for prio, t := range p.Targets {
		v.Targets[prio] = targetViewOf(t)
	}
	if v.BusinessHours != nil && v.BusinessHours.Holidays == nil {
		v.BusinessHours.Holidays = []string{}
	}
	return v
}

// slaPolicyRequest is the body of create and update; absent fields are nil, and
// business_hours stays raw so that null (around the clock) and absent differ.
type slaPolicyRequest struct {
	Name           *string                        `json:"name"`
	Enabled        *bool                          `json:"enabled"`
	Condition      *string                        `json:"condition"`
	Position       *int                           `json:"position"`
	Targets        *map[string]map[string]*string `json:"targets"`
	WarningPercent *int                           `json:"warning_percent"`
	BusinessHours  json.RawMessage                `json:"business_hours"`
}

func (r *slaPolicyRequest) input() (domain.SLAPolicyInput, error) {
	in := domain.SLAPolicyInput{Name: r.Name, Enabled: r.Enabled, Condition: r.Condition, Position: r.Position, WarningPercent: r.WarningPercent}
	if r.Targets != nil {
		targets := map[string]domain.SLATarget{}
		for prio, metrics := range *r.Targets {
			var t domain.SLATarget
			for metric, text := range metrics {
				param := "targets." + prio + "." + metric
				if text == nil {
					continue
				}
				d, err := time.ParseDuration(*text)
				if err != nil {
					return in, domain.Invalidf(param, "`%s`: %q is not a Go duration such as \"4h\" or \"30m\".", param, *text)
				}
				if d == 0 {
					// Zero is how a target is absent; a metric given must have one.
					return in, domain.Invalidf(param, "`%s` must be at least %v; leave the metric out for no target.", param, domain.MinSLATarget)
				}
				switch metric {
				case domain.SLAFirstReply:
					t.FirstReply = d
				case domain.SLAResolution:
					t.Resolution = d
				default:
					return in, domain.Invalidf(param, "`targets.%s` takes first_reply and resolution; got %q.", prio, metric)
				}
			}
			targets[prio] = t
		}
		in.Targets = &targets
	}
	switch {
	case len(r.BusinessHours) == 0:
	case bytes.Equal(r.BusinessHours, jsonNull):
		in.ClearCalendar = true
	default:
		var cal domain.BusinessCalendar
		if err := decodeStrict("business_hours", r.BusinessHours, &cal); err != nil {
			return in, err
		}
		in.Calendar = &cal
	}
	return in, nil
}

// checkSLAInput checks a policy's fields and compiles its condition against the same
// environment as automations'.
func checkSLAInput(r *slaPolicyRequest, create bool) (domain.SLAPolicyInput, error) {
	in, err := r.input()
	if err != nil {
		return in, err
	}
	if err := in.CheckStatic(create); err != nil {
		return in, err
	}
	if in.Condition != nil {
		if err := simulate.CheckCondition(*in.Condition); err != nil {
			return in, err
		}
	}
	return in, nil
}

// createSLAPolicy handles POST /sla-policies.
func (s *server) createSLAPolicy(c *fiber.Ctx, db *store.Conn) error {
	var req slaPolicyRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	in, err := checkSLAInput(&req, true)
	if err != nil {
		return err
	}
	var p *domain.SLAPolicy
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		var err error
		if p, err = tx.CreateSLAPolicy(ctx, keyOf(c).TenantID, in); err != nil {
			return err
		}
		return s.audit(c, tx, "sla_policy.create", p.ID, nil, slaPolicyViewOf(p))
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(slaPolicyEnvelope{SLAPolicy: slaPolicyViewOf(p)})
}

// getSLAPolicy handles GET /sla-policies/{sla_policy_id}.
func (s *server) getSLAPolicy(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	p, err := s.slaPolicyParam(c, &s.store.Conn)
	if err != nil {
		return err
	}
	return c.JSON(slaPolicyEnvelope{SLAPolicy: slaPolicyViewOf(p)})
}

// updateSLAPolicy handles PATCH /sla-policies/{sla_policy_id}; tickets' clocks take the
// change at their next event.
func (s *server) updateSLAPolicy(c *fiber.Ctx, db *store.Conn) error {
	p, err := s.slaPolicyParam(c, db)
	if err != nil {
		return err
	}
	var req slaPolicyRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	in, err := checkSLAInput(&req, false)
	if err != nil {
		return err
	}
	var updated *domain.SLAPolicy
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		var err error
		if updated, err = tx.UpdateSLAPolicy(ctx, p.TenantID, p.ID, in); err != nil {
			return err
		}
		return s.audit(c, tx, "sla_policy.update", p.ID, slaPolicyViewOf(p), slaPolicyViewOf(updated))
	})
	if err != nil {
		return err
	}
	return c.JSON(slaPolicyEnvelope{SLAPolicy: slaPolicyViewOf(updated)})
}

// deleteSLAPolicy handles DELETE /sla-policies/{sla_policy_id}: its clocks stop and go.
func (s *server) deleteSLAPolicy(c *fiber.Ctx, db *store.Conn) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	p, err := s.slaPolicyParam(c, db)
	if err != nil {
		return err
	}
	var deleted *domain.SLAPolicy
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		var err error
		if deleted, err = tx.DeleteSLAPolicy(ctx, p.TenantID, p.ID); err != nil {
			return err
		}
		return s.audit(c, tx, "sla_policy.delete", p.ID, slaPolicyViewOf(deleted), nil)
	})
	if err != nil {
		return err
	}
	return c.JSON(slaPolicyEnvelope{SLAPolicy: slaPolicyViewOf(deleted)})
}

// listSLAPolicies handles GET /sla-policies, in position order (the first match applies).
func (s *server) listSLAPolicies(c *fiber.Ctx) error {
	tenantID := keyOf(c).TenantID
	l, err := parseListing(c, "sla_policies", tenantID)
	if err != nil {
		return err
	}
	var after *store.AutomationCursor
	if l.after != nil {
		after = &store.AutomationCursor{Position: int(l.after.Micros), ID: l.after.ID}
	}
	ps, more, err := s.store.ListSLAPolicies(c.UserContext(), tenantID, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, ps, more, slaPolicyViewOf, func(p *domain.SLAPolicy) (time.Time, string) {
		return time.UnixMicro(int64(p.Position)), p.ID
	}))
}

// slaPolicyParam loads {sla_policy_id} within the caller's tenant.
func (s *server) slaPolicyParam(c *fiber.Ctx, db *store.Conn) (*domain.SLAPolicy, error) {
	id := c.Params("sla_policy_id")
	if !domain.ValidID(domain.PrefixSLAPolicy, id) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No SLA policy %q exists.", id)
	}
	return db.GetSLAPolicy(c.UserContext(), keyOf(c).TenantID, id)
}
