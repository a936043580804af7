package store

import (
	"context"
	"maps"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// CacheChannel carries invalidations ("key:<id>", "tenant:<id>") to the API processes'
// caches of keys and tenant settings.
const CacheChannel = "threada_cache"

type tenantRow struct {
	bun.BaseModel `bun:"table:tenants"`

	ID                      string           `bun:"id,pk"`
	Name                    string           `bun:"name"`
	ActionsBaseURL          string           `bun:"actions_base_url"`
	AllowedHosts            []string         `bun:"allowed_hosts,array"`
	SigningSecret           []byte           `bun:"signing_secret_sealed"`
	SigningSecretRotatedAt  *time.Time       `bun:"signing_secret_rotated_at"`
	PreviousSigningSecret   []byte           `bun:"previous_signing_secret_sealed"`
	PreviousSecretExpiresAt *time.Time       `bun:"previous_signing_secret_expires_at"`
	DefaultTimeoutMS        *int             `bun:"default_action_timeout_ms"`
	DefaultMaxAttempts      *int             `bun:"default_action_max_attempts"`
	RateLimitKeyRPS         *int             `bun:"rate_limit_key_rps"`
	RateLimitTenantRPS      *int             `bun:"rate_limit_tenant_rps"`
	DeliveryWeight          float64          `bun:"delivery_weight"`
	Retention               domain.Retention `bun:"retention,type:jsonb"`
	CreatedAt               time.Time        `bun:"created_at"`
	UpdatedAt               *time.Time       `bun:"updated_at"`
}

func (r *tenantRow) toDomain() *domain.Tenant {
	hosts := r.AllowedHosts
	if hosts == nil {
		hosts = []string{}
	}
	t := &domain.Tenant{
		ID: r.ID, Name: r.Name, ActionsBaseURL: r.ActionsBaseURL, AllowedHosts: hosts,
		DefaultTimeoutMS: r.DefaultTimeoutMS, DefaultMaxAttempts: r.DefaultMaxAttempts,
		RateLimitKeyRPS: r.RateLimitKeyRPS, RateLimitTenantRPS: r.RateLimitTenantRPS, DeliveryWeight: r.DeliveryWeight,
		Retention: r.Retention, SigningSecretRotatedAt: utcPtr(r.SigningSecretRotatedAt), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.CreatedAt.UTC(),
	}
	if r.PreviousSigningSecret != nil {
		t.PreviousSecretExpires = utcPtr(r.PreviousSecretExpiresAt)
	}
	if r.UpdatedAt != nil {
		t.UpdatedAt = r.UpdatedAt.UTC()
	}
	return t
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateTenant stores t, filling its ID (unless set) and creation time. The signing secret
// arrives sealed: the store never sees it in the clear.
func (s *Conn) CreateTenant(ctx context.Context, t *domain.Tenant, sealedSigningSecret []byte) error {
	if t.ID == "" {
		t.ID = domain.NewID(domain.PrefixTenant)
	}
	t.CreatedAt = now()
	t.UpdatedAt = t.CreatedAt
	if t.AllowedHosts == nil {
		t.AllowedHosts = []string{}
	}
	if t.DeliveryWeight == 0 {
		t.DeliveryWeight = domain.DefaultDeliveryWeight
	}
	if t.Retention == nil {
		t.Retention = domain.Retention{}
	}
	row := &tenantRow{ID: t.ID, Name: t.Name, ActionsBaseURL: t.ActionsBaseURL, AllowedHosts: t.AllowedHosts,
		SigningSecret: sealedSigningSecret, DeliveryWeight: t.DeliveryWeight, Retention: t.Retention, CreatedAt: t.CreatedAt, UpdatedAt: &t.CreatedAt}
	_, err := s.db.NewInsert().Model(row).Exec(ctx)
	return err
}

// GetTenant returns one tenant.
func (s *Conn) GetTenant(ctx context.Context, id string) (*domain.Tenant, error) {
	row, err := s.tenantRow(ctx, s.db, id, false)
	if err != nil {
		return nil, err
	}
	return row.toDomain(), nil
}

func (s *Conn) tenantRow(ctx context.Context, db bun.IDB, id string, forUpdate bool) (*tenantRow, error) {
	row := new(tenantRow)
	q := db.NewSelect().Model(row).Where("id = ?", id)
	if forUpdate {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrapErr(err, "No tenant "+id+" exists.")
	}
	return row, nil
}

// DeliveryWeight returns a tenant's delivery weight (internal/fairness). ENOTFOUND.
func (s *Conn) DeliveryWeight(ctx context.Context, id string) (float64, error) {
	var w float64
	err := s.db.NewSelect().Table("tenants").Column("delivery_weight").Where("id = ?", id).Scan(ctx, &w)
	return w, wrapErr(err, "No tenant "+id+" exists.")
}

// UpdateTenant changes the settings present in u and returns the tenant before and after.
func (s *Conn) UpdateTenant(ctx context.Context, id string, u domain.TenantUpdate) (before, after *domain.Tenant, err error) {
	err = s.InTx(ctx, func(tx *Conn) error {
		row, err := s.tenantRow(ctx, tx.db, id, true)
		if err != nil {
			return err
		}
		before = row.toDomain()
		if u.ActionsBaseURL != nil {
			row.ActionsBaseURL = *u.ActionsBaseURL
		}
		if u.AllowedHosts != nil {
			row.AllowedHosts = *u.AllowedHosts
		}
		setOrClear(&row.DefaultTimeoutMS, u.DefaultTimeoutMS, u.ClearTimeout)
		setOrClear(&row.DefaultMaxAttempts, u.DefaultMaxAttempts, u.ClearMaxAttempts)
		setOrClear(&row.RateLimitKeyRPS, u.RateLimitKeyRPS, u.ClearKeyRPS)
		setOrClear(&row.RateLimitTenantRPS, u.RateLimitTenantRPS, u.ClearTenantRPS)
		if u.DeliveryWeight != nil {
			row.DeliveryWeight = *u.DeliveryWeight
		}
		if len(u.Retention) > 0 {
			r := maps.Clone(row.Retention)
			if r == nil {
				r = domain.Retention{}
			}
			for kind, days := range u.Retention {
				if days == nil {
					delete(r, kind)
				} else {
					r[kind] = *days
				}
			}
			row.Retention = r
		}
		at := now()
		row.UpdatedAt = &at
		_, err = tx.db.NewUpdate().Model(row).Column("actions_base_url", "allowed_hosts", "default_action_timeout_ms",
			"default_action_max_attempts", "rate_limit_key_rps", "rate_limit_tenant_rps", "delivery_weight", "retention", "updated_at").WherePK().Exec(ctx)
		after = row.toDomain()
		return err
	})
	if err == nil {
		s.invalidate(ctx, "tenant:"+id)
	}
	return before, after, err
}

func setOrClear(field **int, v *int, clear bool) {
	switch {
	case clear:
		*field = nil
	case v != nil:
		x := *v
		*field = &x
	}
}

// SigningSecrets returns the tenant's sealed signing secrets that sign calls now: the
// current one, and the previous one during its overlap window.
func (s *Conn) SigningSecrets(ctx context.Context, id string) ([][]byte, error) {
	row, err := s.tenantRow(ctx, s.db, id, false)
	if err != nil {
		return nil, err
	}
	if row.SigningSecret == nil {
		return nil, domain.Errorf(domain.ENOTFOUND, "Tenant %s has no signing secret.", id)
	}
	out := [][]byte{row.SigningSecret}
	if row.PreviousSigningSecret != nil && row.PreviousSecretExpiresAt != nil && now().Before(*row.PreviousSecretExpiresAt) {
		out = append(out, row.PreviousSigningSecret)
	}
	return out, nil
}

// RotateSigningSecret makes sealed the tenant's signing secret; the current one keeps
// signing, next to it, for overlap.
func (s *Conn) RotateSigningSecret(ctx context.Context, id string, sealed []byte, overlap time.Duration) (before, after *domain.Tenant, err error) {
	err = s.InTx(ctx, func(tx *Conn) error {
		row, err := s.tenantRow(ctx, tx.db, id, true)
		if err != nil {
			return err
		}
		before = row.toDomain()
		at := now()
		expires := at.Add(overlap)
		row.PreviousSigningSecret, row.PreviousSecretExpiresAt = row.SigningSecret, &expires
		if overlap <= 0 {
			row.PreviousSigningSecret, row.PreviousSecretExpiresAt = nil, nil
		}
		row.SigningSecret, row.SigningSecretRotatedAt, row.UpdatedAt = sealed, &at, &at
		_, err = tx.db.NewUpdate().Model(row).Column("signing_secret_sealed", "previous_signing_secret_sealed",
			"previous_signing_secret_expires_at", "signing_secret_rotated_at", "updated_at").WherePK().Exec(ctx)
		after = row.toDomain()
		return err
	})
	return before, after, err
}

// invalidate tells every API process to drop what it cached under key, once the
// transaction s is part of (if any) commits.
func (s *Conn) invalidate(ctx context.Context, key string) {
	s.AfterCommit(ctx, func(ctx context.Context) {
		_, _ = s.root.db.ExecContext(context.WithoutCancel(ctx), "SELECT pg_notify(?, ?)", CacheChannel, key)
	})
}
