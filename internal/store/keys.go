package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type apiKeyRow struct {
	bun.BaseModel `bun:"table:api_keys"`

	ID                 string     `bun:"id,pk"`
	TenantID           string     `bun:"tenant_id"`
	Name               string     `bun:"name"`
	Prefix             string     `bun:"prefix"`
	SecretHash         []byte     `bun:"secret_hash"`
	Scopes             []string   `bun:"scopes,array"`
	CreatedAt          time.Time  `bun:"created_at"`
	ExpiresAt          *time.Time `bun:"expires_at"`
	RevokedAt          *time.Time `bun:"revoked_at"`
	LastUsedAt         *time.Time `bun:"last_used_at"`
	RotatedAt          *time.Time `bun:"rotated_at"`
	PreviousSecretHash []byte     `bun:"previous_secret_hash"`
	PreviousExpiresAt  *time.Time `bun:"previous_expires_at"`
}

func (r *apiKeyRow) toDomain() *domain.APIKey {
	k := &domain.APIKey{
		ID: r.ID, TenantID: r.TenantID, Name: r.Name, Prefix: r.Prefix, Scopes: r.Scopes,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: utcPtr(r.ExpiresAt), RevokedAt: utcPtr(r.RevokedAt),
		LastUsedAt: utcPtr(r.LastUsedAt), RotatedAt: utcPtr(r.RotatedAt),
	}
	if r.PreviousSecretHash != nil {
		k.PreviousExpiresAt = utcPtr(r.PreviousExpiresAt)
	}
	return k
}

// CreateKey stores k (its ID already chosen, as the secret embeds it) with its secret
// hash. ENOTFOUND for an unknown tenant.
func (s *Conn) CreateKey(ctx context.Context, k *domain.APIKey, secretHash []byte) error {
	if _, err := s.GetTenant(ctx, k.TenantID); err != nil {
		return err
	}
	k.CreatedAt = now()
	row := &apiKeyRow{
		ID: k.ID, TenantID: k.TenantID, Name: k.Name, Prefix: k.Prefix,
		SecretHash: secretHash, Scopes: k.Scopes, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
	}
	_, err := s.db.NewInsert().Model(row).Exec(ctx)
	return wrapErr(err, "")
}

// KeyForAuth returns a key, revoked or expired or not (the caller decides), with the
// hashes its secrets may match: the previous one only while its grace period lasts.
func (s *Conn) KeyForAuth(ctx context.Context, keyID string) (*domain.AuthKey, error) {
	row := new(apiKeyRow)
	if err := s.db.NewSelect().Model(row).Where("id = ?", keyID).Scan(ctx); err != nil {
		return nil, wrapErr(err, "No API key "+keyID+" exists.")
	}
	ak := &domain.AuthKey{Key: *row.toDomain(), Hash: row.SecretHash}
	if row.PreviousSecretHash != nil && row.PreviousExpiresAt != nil {
		ak.PreviousHash = row.PreviousSecretHash
	}
	return ak, nil
}

// GetKey returns one key of the tenant. ENOTFOUND.
func (s *Conn) GetKey(ctx context.Context, tenantID, keyID string) (*domain.APIKey, error) {
	row, err := s.keyRow(ctx, s.db, tenantID, keyID, false)
	if err != nil {
		return nil, err
	}
	return row.toDomain(), nil
}

func (s *Conn) keyRow(ctx context.Context, db bun.IDB, tenantID, keyID string, forUpdate bool) (*apiKeyRow, error) {
	row := new(apiKeyRow)
	q := db.NewSelect().Model(row).Where("id = ? AND tenant_id = ?", keyID, tenantID)
	if forUpdate {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrapErr(err, "No API key "+keyID+" exists.")
	}
	return row, nil
}

// KeyCursor is a position in the key listing (created_at desc, id desc).
type KeyCursor struct {
	CreatedAt time.Time
	ID        string
}

// ListKeys returns the tenant's keys, newest first.
func (s *Conn) ListKeys(ctx context.Context, tenantID string, after *KeyCursor, limit int) ([]domain.APIKey, bool, error) {
	var rows []apiKeyRow
	q := s.db.NewSelect().Model(&rows).Where("tenant_id = ?", tenantID)
	if after != nil {
		q = q.Where("(created_at, id) < (?, ?)", after.CreatedAt, after.ID)
	}
	if err := q.OrderExpr("created_at DESC, id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, func(r *apiKeyRow) domain.APIKey { return *r.toDomain() })
	return out, more, nil
}

// RotateKey gives a live key a new secret (hash and display prefix); the old secret keeps
// working for grace (not at all when grace is 0). It returns the key before and after.
func (s *Conn) RotateKey(ctx context.Context, tenantID, keyID string, newHash []byte, newPrefix string, grace time.Duration) (before, after *domain.APIKey, err error) {
	err = s.InTx(ctx, func(tx *Conn) error {
		row, err := s.keyRow(ctx, tx.db, tenantID, keyID, true)
		if err != nil {
			return err
		}
		before = row.toDomain()
		if row.RevokedAt != nil || before.Expired(now()) {
			return domain.Errorf(domain.ECONFLICT, "API key %s is revoked or expired; create a new key instead.", keyID)
		}
		at := now()
		until := at.Add(grace)
		row.PreviousSecretHash, row.PreviousExpiresAt = row.SecretHash, &until
		if grace <= 0 {
			row.PreviousSecretHash, row.PreviousExpiresAt = nil, nil
		}
		row.SecretHash, row.Prefix, row.RotatedAt = newHash, newPrefix, &at
		_, err = tx.db.NewUpdate().Model(row).Column("secret_hash", "prefix", "rotated_at", "previous_secret_hash", "previous_expires_at").WherePK().Exec(ctx)
		after = row.toDomain()
		return err
	})
	if err == nil {
		s.invalidate(ctx, "key:"+keyID)
	}
	return before, after, err
}

// RevokeTenantKey revokes one of the tenant's keys (revoking twice keeps the first time)
// and returns it before and after.
func (s *Conn) RevokeTenantKey(ctx context.Context, tenantID, keyID string) (before, after *domain.APIKey, err error) {
	err = s.InTx(ctx, func(tx *Conn) error {
		row, err := s.keyRow(ctx, tx.db, tenantID, keyID, true)
		if err != nil {
			return err
		}
		before = row.toDomain()
		if row.RevokedAt == nil {
			at := now()
			row.RevokedAt = &at
			if _, err := tx.db.NewUpdate().Model(row).Column("revoked_at").WherePK().Exec(ctx); err != nil {
				return err
			}
		}
		after = row.toDomain()
		return nil
	})
	if err == nil {
		s.invalidate(ctx, "key:"+keyID)
	}
	return before, after, err
}

// RevokeKey revokes a key whatever its tenant (the CLI's `key revoke`).
func (s *Conn) RevokeKey(ctx context.Context, keyID string) error {
	res, err := s.db.NewUpdate().Table("api_keys").
		Set("revoked_at = coalesce(revoked_at, ?)", now()).
		Where("id = ?", keyID).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No API key %s exists.", keyID)
	}
	s.invalidate(ctx, "key:"+keyID)
	return nil
}

// TouchKey records that the key was used at t.
func (s *Conn) TouchKey(ctx context.Context, keyID string, t time.Time) error {
	_, err := s.db.NewUpdate().Table("api_keys").Set("last_used_at = greatest(last_used_at, ?)", t).Where("id = ?", keyID).Exec(ctx)
	return err
}
