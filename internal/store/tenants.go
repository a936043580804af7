package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type tenantRow struct {
	bun.BaseModel `bun:"table:tenants"`

	ID             string    `bun:"id,pk"`
	Name           string    `bun:"name"`
	ActionsBaseURL string    `bun:"actions_base_url"`
	AllowedHosts   []string  `bun:"allowed_hosts,array"`
	SigningSecret  []byte    `bun:"signing_secret_sealed"`
	CreatedAt      time.Time `bun:"created_at"`
}

func (r *tenantRow) toDomain() *domain.Tenant {
	hosts := r.AllowedHosts
	if hosts == nil {
		hosts = []string{}
	}
	return &domain.Tenant{ID: r.ID, Name: r.Name, ActionsBaseURL: r.ActionsBaseURL, AllowedHosts: hosts, CreatedAt: r.CreatedAt.UTC()}
}

type apiKeyRow struct {
	bun.BaseModel `bun:"table:api_keys"`

	ID         string     `bun:"id,pk"`
	TenantID   string     `bun:"tenant_id"`
	Name       string     `bun:"name"`
	Prefix     string     `bun:"prefix"`
	SecretHash []byte     `bun:"secret_hash"`
	Scopes     []string   `bun:"scopes,array"`
	CreatedAt  time.Time  `bun:"created_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
}

func (r *apiKeyRow) toDomain() *domain.APIKey {
	return &domain.APIKey{
		ID:        r.ID,
		TenantID:  r.TenantID,
		Name:      r.Name,
		Prefix:    r.Prefix,
		Scopes:    r.Scopes,
		CreatedAt: r.CreatedAt.UTC(),
		RevokedAt: r.RevokedAt,
	}
}

// CreateTenant stores t, filling its ID (unless set) and creation time. The signing secret
// arrives sealed: the store never sees it in the clear.
func (s *Store) CreateTenant(ctx context.Context, t *domain.Tenant, sealedSigningSecret []byte) error {
	if t.ID == "" {
		t.ID = domain.NewID(domain.PrefixTenant)
	}
	t.CreatedAt = now()
	if t.AllowedHosts == nil {
		t.AllowedHosts = []string{}
	}
	row := &tenantRow{ID: t.ID, Name: t.Name, ActionsBaseURL: t.ActionsBaseURL, AllowedHosts: t.AllowedHosts,
		SigningSecret: sealedSigningSecret, CreatedAt: t.CreatedAt}
	_, err := s.conn(ctx).NewInsert().Model(row).Exec(ctx)
	return err
}

// GetTenant returns one tenant.
func (s *Store) GetTenant(ctx context.Context, id string) (*domain.Tenant, error) {
	row, err := s.tenantRow(ctx, s.conn(ctx), id, false)
	if err != nil {
		return nil, err
	}
	return row.toDomain(), nil
}

func (s *Store) tenantRow(ctx context.Context, db bun.IDB, id string, forUpdate bool) (*tenantRow, error) {
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

// UpdateTenant changes the settings present in u.
func (s *Store) UpdateTenant(ctx context.Context, id string, u domain.TenantUpdate) (*domain.Tenant, error) {
	var out *domain.Tenant
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		row, err := s.tenantRow(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if u.ActionsBaseURL != nil {
			row.ActionsBaseURL = *u.ActionsBaseURL
		}
		if u.AllowedHosts != nil {
			row.AllowedHosts = *u.AllowedHosts
		}
		out = row.toDomain()
		_, err = tx.NewUpdate().Model(row).Column("actions_base_url", "allowed_hosts").WherePK().Exec(ctx)
		return err
	})
	return out, err
}

// SealedSigningSecret returns the tenant's signing secret as sealed at creation.
func (s *Store) SealedSigningSecret(ctx context.Context, id string) ([]byte, error) {
	row, err := s.tenantRow(ctx, s.conn(ctx), id, false)
	if err != nil {
		return nil, err
	}
	if row.SigningSecret == nil {
		return nil, domain.Errorf(domain.ENOTFOUND, "Tenant %s has no signing secret.", id)
	}
	return row.SigningSecret, nil
}

// CreateKey stores k (its ID already chosen, as the secret embeds it) with its secret hash.
func (s *Store) CreateKey(ctx context.Context, k *domain.APIKey, secretHash []byte) error {
	if _, err := s.GetTenant(ctx, k.TenantID); err != nil {
		return err
	}
	k.CreatedAt = now()
	row := &apiKeyRow{
		ID: k.ID, TenantID: k.TenantID, Name: k.Name, Prefix: k.Prefix,
		SecretHash: secretHash, Scopes: k.Scopes, CreatedAt: k.CreatedAt,
	}
	_, err := s.conn(ctx).NewInsert().Model(row).Exec(ctx)
	return wrapErr(err, "")
}

// KeyForAuth returns a key and its secret hash, revoked or not: the caller decides.
func (s *Store) KeyForAuth(ctx context.Context, keyID string) (*domain.APIKey, []byte, error) {
	row := new(apiKeyRow)
	if err := s.conn(ctx).NewSelect().Model(row).Where("id = ?", keyID).Scan(ctx); err != nil {
		return nil, nil, wrapErr(err, "No API key "+keyID+" exists.")
	}
	return row.toDomain(), row.SecretHash, nil
}

// RevokeKey marks a key revoked; revoking twice keeps the first time.
func (s *Store) RevokeKey(ctx context.Context, keyID string) error {
	res, err := s.conn(ctx).NewUpdate().Table("api_keys").
		Set("revoked_at = coalesce(revoked_at, ?)", now()).
		Where("id = ?", keyID).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No API key %s exists.", keyID)
	}
	return nil
}
