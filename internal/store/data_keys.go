package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// DataKey is a tenant's data key for Temporal payloads, as stored: wrapped (sealed by
// SECRETS_KEY; internal/sealing wraps and unwraps it).
type DataKey struct {
	bun.BaseModel `bun:"table:tenant_data_keys"`
	ID            string     `bun:"id,pk"`
	TenantID      string     `bun:"tenant_id"`
	Wrapped       []byte     `bun:"wrapped"`
	CreatedAt     time.Time  `bun:"created_at"`
	RetiredAt     *time.Time `bun:"retired_at"`
}

// ActiveDataKey returns the tenant's active data key; found is false if it has none.
func (s *Store) ActiveDataKey(ctx context.Context, tenantID string) (k DataKey, found bool, err error) {
	err = s.db.NewSelect().Model(&k).Where("tenant_id = ? AND retired_at IS NULL", tenantID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return DataKey{}, false, nil
	}
	return k, err == nil, err
}

// DataKeyByID returns a data key by its id, active or retired; found is false if there is
// no such key (never made, or shredded).
func (s *Store) DataKeyByID(ctx context.Context, id string) (k DataKey, found bool, err error) {
	err = s.db.NewSelect().Model(&k).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return DataKey{}, false, nil
	}
	return k, err == nil, err
}

// AddDataKey makes k its tenant's active key (ENOTFOUND if there is no such tenant). With rotate, the active key (if any) is
// retired first; without, k is stored only if the tenant has no active key, and the
// active key is returned either way (two processes making a tenant's first key at once
// agree on one).
func (s *Store) AddDataKey(ctx context.Context, k DataKey, rotate bool) (DataKey, error) {
	k.CreatedAt, k.RetiredAt = now(), nil
	err := s.InTx(ctx, func(tx *Conn) error {
		// The tenant's key rows are serialized on the tenant's id, so a rotation and a
		// first use never both find "no active key".
		if _, err := tx.db.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('tenant_data_keys:' || ?, 0))", k.TenantID); err != nil {
			return err
		}
		if rotate {
			if _, err := tx.db.NewUpdate().Table("tenant_data_keys").Set("retired_at = ?", k.CreatedAt).
				Where("tenant_id = ? AND retired_at IS NULL", k.TenantID).Exec(ctx); err != nil {
				return err
			}
		}
		// Only for a tenant that exists: a late payload of an offboarded tenant gets no
		// new key (its workflows were ended before its keys were deleted).
		_, err := tx.db.NewRaw(`INSERT INTO tenant_data_keys (id, tenant_id, wrapped, created_at)
			SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM tenants WHERE id = ?)
			ON CONFLICT (tenant_id) WHERE retired_at IS NULL DO NOTHING`, k.ID, k.TenantID, k.Wrapped, k.CreatedAt, k.TenantID).Exec(ctx)
		return err
	})
	if err != nil {
		return DataKey{}, err
	}
	active, found, err := s.ActiveDataKey(ctx, k.TenantID)
	if err == nil && !found {
		err = domain.Errorf(domain.ENOTFOUND, "No tenant %s exists: it has no data key.", k.TenantID)
	}
	return active, err
}

// ShredDataKeys deletes every data key of the tenant: what its Temporal histories hold
// can no longer be read by anyone. It returns how many keys it deleted.
func (s *Store) ShredDataKeys(ctx context.Context, tenantID string) (int64, error) {
	res, err := s.db.NewDelete().Table("tenant_data_keys").Where("tenant_id = ?", tenantID).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
