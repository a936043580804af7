package main

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/webhook"
)

type settingsView struct {
	TenantID       string              `json:"tenant_id"`
	Name           string              `json:"name"`
	ActionsBaseURL *string             `json:"actions_base_url"`
	AllowedHosts   []string            `json:"allowed_hosts"`
	ActionDefaults actionDefaultsView  `json:"action_defaults"`
	RateLimits     rateLimitsView      `json:"rate_limits"`
	Retention      retentionView       `json:"retention"`
	SigningSecret  signingSecretStatus `json:"signing_secret"`
	UpdatedAt      timestamp           `json:"updated_at"`
}

// actionDefaultsView shows the tenant's overrides (null: Threada's) and what applies.
type actionDefaultsView struct {
	TimeoutMS            *int `json:"timeout_ms"`
	MaxAttempts          *int `json:"max_attempts"`
	EffectiveTimeoutMS   int  `json:"effective_timeout_ms"`
	EffectiveMaxAttempts int  `json:"effective_max_attempts"`
}

// rateLimitsView shows the tenant's overrides (null: the server's) and what applies, in
// requests per second across all API processes; 0 means no limit.
type rateLimitsView struct {
	KeyRPS             *int `json:"key_rps"`
	TenantRPS          *int `json:"tenant_rps"`
	EffectiveKeyRPS    int  `json:"effective_key_rps"`
	EffectiveTenantRPS int  `json:"effective_tenant_rps"`
}

// retentionView shows, per kind, the tenant's override in days (null: the default) and
// what applies (null: kept until deleted).
type retentionView struct {
	AttemptsDays                *int `json:"attempts_days"`
	RunsDays                    *int `json:"runs_days"`
	ResponseBodiesDays          *int `json:"response_bodies_days"`
	AuditDays                   *int `json:"audit_days"`
	ClosedTicketsDays           *int `json:"closed_tickets_days"`
	EffectiveAttemptsDays       *int `json:"effective_attempts_days"`
	EffectiveRunsDays           *int `json:"effective_runs_days"`
	EffectiveResponseBodiesDays *int `json:"effective_response_bodies_days"`
	EffectiveAuditDays          *int `json:"effective_audit_days"`
	EffectiveClosedTicketsDays  *int `json:"effective_closed_tickets_days"`
}

func retentionViewOf(r domain.Retention) retentionView {
	override := func(k domain.RetentionKind) *int {
		if d, ok := r[k]; ok {
			return &d
		}
		return nil
	}
	effective := func(k domain.RetentionKind) *int {
		if d := r.Days(k); d > 0 {
			return &d
		}
		return nil
	}
	return retentionView{
		AttemptsDays: override(domain.RetainAttempts), RunsDays: override(domain.RetainRuns),
		ResponseBodiesDays: override(domain.RetainResponseBodies), AuditDays: override(domain.RetainAudit),
		ClosedTicketsDays:     override(domain.RetainClosedTickets),
		EffectiveAttemptsDays: effective(domain.RetainAttempts), EffectiveRunsDays: effective(domain.RetainRuns),
		EffectiveResponseBodiesDays: effective(domain.RetainResponseBodies), EffectiveAuditDays: effective(domain.RetainAudit),
		EffectiveClosedTicketsDays: effective(domain.RetainClosedTickets),
	}
}

// signingSecretStatus says when the secret changed; the secret itself is never shown again.
type signingSecretStatus struct {
	RotatedAt          *timestamp `json:"rotated_at"`
	PreviousValidUntil *timestamp `json:"previous_valid_until"`
}

type settingsEnvelope struct {
	Settings      settingsView `json:"settings"`
	SigningSecret string       `json:"signing_secret,omitempty"`
}

func (s *server) settingsViewOf(t *domain.Tenant) settingsView {
	v := settingsView{TenantID: t.ID, Name: t.Name, AllowedHosts: t.AllowedHosts, UpdatedAt: timestamp(t.UpdatedAt)}
	if t.ActionsBaseURL != "" {
		v.ActionsBaseURL = &t.ActionsBaseURL
	}
	v.ActionDefaults = actionDefaultsView{TimeoutMS: t.DefaultTimeoutMS, MaxAttempts: t.DefaultMaxAttempts,
		EffectiveTimeoutMS: orDefault(t.DefaultTimeoutMS, domain.DefaultActionTimeoutMS), EffectiveMaxAttempts: orDefault(t.DefaultMaxAttempts, domain.DefaultActionMaxAttempts)}
	v.RateLimits = rateLimitsView{KeyRPS: t.RateLimitKeyRPS, TenantRPS: t.RateLimitTenantRPS,
		EffectiveKeyRPS: orDefault(t.RateLimitKeyRPS, s.limiter.KeyRPS), EffectiveTenantRPS: orDefault(t.RateLimitTenantRPS, s.limiter.TenantRPS)}
	v.Retention = retentionViewOf(t.Retention)
	v.SigningSecret = signingSecretStatus{RotatedAt: optTime(t.SigningSecretRotatedAt), PreviousValidUntil: optTime(t.PreviousSecretExpires)}
	return v
}

func orDefault(v *int, def int) int {
	if v != nil {
		return *v
	}
	return def
}

// getSettings handles GET /settings.
func (s *server) getSettings(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	t, err := s.store.GetTenant(c.UserContext(), keyOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(settingsEnvelope{Settings: s.settingsViewOf(t)})
}

// settingsRequest keeps every field raw so that null (reset to the default) and absent
// (keep) differ.
type settingsRequest struct {
	ActionsBaseURL json.RawMessage `json:"actions_base_url"`
	AllowedHosts   *[]string       `json:"allowed_hosts"` // not nullable: [] allows none
	ActionDefaults *struct {
		TimeoutMS   json.RawMessage `json:"timeout_ms"`
		MaxAttempts json.RawMessage `json:"max_attempts"`
	} `json:"action_defaults"`
	RateLimits *struct {
		KeyRPS    json.RawMessage `json:"key_rps"`
		TenantRPS json.RawMessage `json:"tenant_rps"`
	} `json:"rate_limits"`
	Retention *struct {
		AttemptsDays       json.RawMessage `json:"attempts_days"`
		RunsDays           json.RawMessage `json:"runs_days"`
		ResponseBodiesDays json.RawMessage `json:"response_bodies_days"`
		AuditDays          json.RawMessage `json:"audit_days"`
		ClosedTicketsDays  json.RawMessage `json:"closed_tickets_days"`
	} `json:"retention"`
}

// nullableInt reads a raw field: absent keeps, null clears, a number sets.
func nullableInt(param string, raw json.RawMessage, dst **int, clear *bool) error {
	switch {
	case raw == nil:
		return nil
	case bytes.Equal(raw, jsonNull):
		*clear = true
		return nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return domain.Invalidf(param, "`%s` must be an integer or null.", param)
	}
	*dst = &n
	return nil
}

// updateSettings handles PATCH /settings.
func (s *server) updateSettings(c *fiber.Ctx, db *store.Conn) error {
	var req settingsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	var u domain.TenantUpdate
	if req.ActionsBaseURL != nil {
		base := ""
		if !bytes.Equal(req.ActionsBaseURL, jsonNull) {
			if err := json.Unmarshal(req.ActionsBaseURL, &base); err != nil || base == "" {
				// "" is not "none": null says that.
				return domain.Invalidf("actions_base_url", "`actions_base_url` must be a URL string or null.")
			}
		}
		u.ActionsBaseURL = &base
	}
	if req.AllowedHosts != nil {
		// Typed, so that decoding names a null or a number where it is (allowed_hosts[0]).
		u.AllowedHosts = req.AllowedHosts
	}
	if d := req.ActionDefaults; d != nil {
		if err := nullableInt("action_defaults.timeout_ms", d.TimeoutMS, &u.DefaultTimeoutMS, &u.ClearTimeout); err != nil {
			return err
		}
		if err := nullableInt("action_defaults.max_attempts", d.MaxAttempts, &u.DefaultMaxAttempts, &u.ClearMaxAttempts); err != nil {
			return err
		}
	}
	if r := req.RateLimits; r != nil {
		if err := nullableInt("rate_limits.key_rps", r.KeyRPS, &u.RateLimitKeyRPS, &u.ClearKeyRPS); err != nil {
			return err
		}
		if err := nullableInt("rate_limits.tenant_rps", r.TenantRPS, &u.RateLimitTenantRPS, &u.ClearTenantRPS); err != nil {
			return err
		}
	}
	if r := req.Retention; r != nil {
		u.Retention = map[domain.RetentionKind]*int{}
		raws := map[domain.RetentionKind]json.RawMessage{domain.RetainAttempts: r.AttemptsDays, domain.RetainRuns: r.RunsDays,
			domain.RetainResponseBodies: r.ResponseBodiesDays, domain.RetainAudit: r.AuditDays, domain.RetainClosedTickets: r.ClosedTicketsDays}
		for _, kind := range domain.RetentionKinds { // in order, so the first bad field is the one named
			raw := raws[kind]
			var days *int
			var clear bool
			if err := nullableInt("retention."+string(kind)+"_days", raw, &days, &clear); err != nil {
				return err
			}
			if days != nil || clear {
				u.Retention[kind] = days
			}
		}
	}
	if err := u.Check(); err != nil {
		return err
	}
	tenantID := keyOf(c).TenantID
	var after *domain.Tenant
	err := s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		before, updated, err := tx.UpdateTenant(ctx, tenantID, u)
		if err != nil {
			return err
		}
		after = updated
		return s.audit(c, tx, "settings.update", tenantID, s.settingsViewOf(before), s.settingsViewOf(updated))
	})
	if err != nil {
		return err
	}
	s.caches.tenants.Evict(tenantID)
	return c.JSON(settingsEnvelope{Settings: s.settingsViewOf(after)})
}

type rotateSecretRequest struct {
	OverlapSeconds *int `json:"overlap_seconds"`
}

// rotateSigningSecret handles POST /settings/signing-secret/rotate: a new webhook signing
// secret, shown once; during the overlap window (default a day) calls carry both
// signatures, so receivers can switch without losing a call.
func (s *server) rotateSigningSecret(c *fiber.Ctx, db *store.Conn) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	if s.box == nil {
		return domain.Errorf(domain.EUNAVAILABLE, "Signing secrets cannot be rotated: this API server has no SECRETS_KEY configured.")
	}
	var req rotateSecretRequest
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	overlap := domain.DefaultSecretOverlap
	if o := req.OverlapSeconds; o != nil {
		// Compared in seconds: a huge count would overflow a time.Duration.
		if *o < 0 || *o > int(domain.MaxSecretOverlap/time.Second) {
			return domain.Invalidf("overlap_seconds", "`overlap_seconds` must be from 0 to %d.", int(domain.MaxSecretOverlap.Seconds()))
		}
		overlap = time.Duration(*o) * time.Second
	}
	tenantID := keyOf(c).TenantID
	secret := webhook.NewSecret()
	var after *domain.Tenant
	err := s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		before, rotated, err := tx.RotateSigningSecret(ctx, tenantID, s.box.Seal(secret, tenantID), overlap)
		if err != nil {
			return err
		}
		after = rotated
		return s.audit(c, tx, "settings.signing_secret.rotate", tenantID, s.settingsViewOf(before), s.settingsViewOf(rotated))
	})
	if err != nil {
		return err
	}
	view := s.settingsViewOf(after)
	return withSecret(c, fiber.StatusOK, settingsEnvelope{Settings: view, SigningSecret: secret}, settingsEnvelope{Settings: view})
}
