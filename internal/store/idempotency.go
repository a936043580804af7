package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"hash/fnv"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// IdempotencyWindow is how long a stored response is replayed.
const IdempotencyWindow = 24 * time.Hour

// IdempotentRequest identifies a POST sent with an Idempotency-Key. Keys are scoped to the
// API key that sent them; Fingerprint covers method, path and body.
type IdempotentRequest struct {
	TenantID    string
	KeyID       string
	Key         string
	Fingerprint []byte
	RequestID   string
}

// StoredResponse is what a replay sends back.
type StoredResponse struct {
	StatusCode int
	Body       []byte
	RequestID  string // the request that produced it
}

type idempotencyRow struct {
	bun.BaseModel `bun:"table:idempotency_keys"`

	TenantID       string    `bun:"tenant_id,pk"`
	KeyID          string    `bun:"key_id,pk"`
	IdempotencyKey string    `bun:"idempotency_key,pk"`
	Fingerprint    []byte    `bun:"fingerprint"`
	RequestID      string    `bun:"request_id"`
	StatusCode     int       `bun:"status_code"`
	ResponseBody   []byte    `bun:"response_body"`
	CreatedAt      time.Time `bun:"created_at"`
}

// Idempotent runs fn at most once per key within IdempotencyWindow, in one transaction
// with the stored response, so a crash leaves either both or neither. Store calls fn makes
// with the context it receives join that transaction.
//
// A key already answered with the same fingerprint returns the stored response and
// replayed=true without calling fn. A different fingerprint is EIDEMPOTENCY; a key whose
// first request is still running is ECONFLICT. When fn fails, nothing is stored or changed
// and the key stays free, so the client can retry.
func (s *Store) Idempotent(ctx context.Context, req IdempotentRequest, fn func(ctx context.Context) (*StoredResponse, error)) (resp *StoredResponse, replayed bool, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var locked bool
		if err := tx.NewRaw("SELECT pg_try_advisory_xact_lock(?)", idempotencyLockID(req)).Scan(ctx, &locked); err != nil {
			return err
		}
		if !locked {
			return domain.Errorf(domain.ECONFLICT, "A request with Idempotency-Key %q is still being processed; retry after it completes.", req.Key)
		}
		prev := new(idempotencyRow)
		err := tx.NewSelect().Model(prev).
			Where("tenant_id = ? AND key_id = ? AND idempotency_key = ?", req.TenantID, req.KeyID, req.Key).
			Where("created_at > ?", now().Add(-IdempotencyWindow)).
			Scan(ctx)
		switch {
		case err == nil:
			if !bytes.Equal(prev.Fingerprint, req.Fingerprint) {
				return &domain.Error{Code: domain.EIDEMPOTENCY, Param: "Idempotency-Key", Message: "Keys for idempotent requests can only be used with the same method, path and body as the first request; this Idempotency-Key was used with different ones."}
			}
			resp, replayed = &StoredResponse{StatusCode: prev.StatusCode, Body: prev.ResponseBody, RequestID: prev.RequestID}, true
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if resp, err = fn(ctx); err != nil {
			return err
		}
		row := &idempotencyRow{
			TenantID: req.TenantID, KeyID: req.KeyID, IdempotencyKey: req.Key,
			Fingerprint: req.Fingerprint, RequestID: req.RequestID,
			StatusCode: resp.StatusCode, ResponseBody: resp.Body, CreatedAt: now(),
		}
		_, err = tx.NewInsert().Model(row).
			On("CONFLICT (tenant_id, key_id, idempotency_key) DO UPDATE").
			Set("fingerprint = EXCLUDED.fingerprint, request_id = EXCLUDED.request_id, status_code = EXCLUDED.status_code, response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at").
			Exec(ctx)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return resp, replayed, nil
}

// DeleteExpiredIdempotencyKeys removes responses past the replay window.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context) (int64, error) {
	res, err := s.conn(ctx).NewDelete().Table("idempotency_keys").
		Where("created_at <= ?", now().Add(-IdempotencyWindow)).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func idempotencyLockID(req IdempotentRequest) int64 {
	h := fnv.New64a()
	for _, part := range []string{req.TenantID, req.KeyID, req.Key} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}
