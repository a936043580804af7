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

// pendingLease is how long a request that left its transaction to wait (see Detach) keeps
// its key busy (409 to a second request) without finishing; past it, a process that died
// while waiting no longer blocks the key.
const pendingLease = 2 * time.Minute

// Idempotent runs fn at most once per key within IdempotencyWindow, in one transaction
// with the stored response, so a crash leaves either both or neither: fn makes its writes
// on tx, the transaction's Conn.
//
// A key already answered with the same fingerprint returns the stored response and
// replayed=true without calling fn. A different fingerprint is EIDEMPOTENCY; a key whose
// first request is still running is ECONFLICT. When fn fails, nothing is stored or changed
// and the key stays free, so the client can retry.
//
// fn that must wait (on Temporal, on an action to end) calls Detach first: what it wrote
// commits with the key marked in flight, the transaction and its connection are given
// back, and the response is stored when fn returns (or the key freed if it fails). No
// request holds a transaction or a connection while it waits.
func (s *Store) Idempotent(ctx context.Context, req IdempotentRequest, fn func(tx *Conn) (*StoredResponse, error)) (resp *StoredResponse, replayed bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	st := &txState{tx: tx, idem: &idemState{req: req}}
	defer func() {
		if !st.idem.detached {
			_ = tx.Rollback() // a no-op after commit
		}
	}()
	conn := &Conn{root: s, db: tx, tx: st}
	if resp, replayed, err = s.claimKey(ctx, tx, req); err != nil || replayed {
		return resp, replayed, err
	}
	resp, err = fn(conn)
	if st.idem.detached {
		return s.finishDetached(ctx, req, resp, err)
	}
	if err != nil {
		return nil, false, err
	}
	if err := s.storeResponse(ctx, tx, req, resp); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	st.runAfter(ctx)
	return resp, false, nil
}

// idemState is an Idempotent call in progress.
type idemState struct {
	req      IdempotentRequest
	detached bool
}

// Detach ends the transaction tx of an Idempotent fn before it waits: what it wrote so far
// commits with its key marked in flight. It returns the Conn to go on with, the pool. On
// the pool, or on a transaction of InTx (which commits when its fn returns), it returns tx
// as it is.
func (s *Store) Detach(ctx context.Context, tx *Conn) (*Conn, error) {
	if tx.tx == nil || tx.tx.idem == nil || tx.tx.idem.detached {
		return tx, nil
	}
	st := tx.tx
	pending := &StoredResponse{StatusCode: 0, Body: []byte{}}
	if err := s.storeResponse(ctx, st.tx, st.idem.req, pending); err != nil {
		return tx, err
	}
	if err := st.tx.Commit(); err != nil {
		return tx, err
	}
	st.idem.detached = true
	st.runAfter(ctx)
	return &s.Conn, nil
}

// claimKey takes the key's lock for this transaction and answers a replay, a mismatch or
// a request still in flight.
func (s *Store) claimKey(ctx context.Context, tx bun.IDB, req IdempotentRequest) (*StoredResponse, bool, error) {
	var locked bool
	if err := tx.NewRaw("SELECT pg_try_advisory_xact_lock(?)", idempotencyLockID(req)).Scan(ctx, &locked); err != nil {
		return nil, false, err
	}
	busy := domain.Errorf(domain.ECONFLICT, "A request with Idempotency-Key %q is still being processed; retry after it completes.", req.Key)
	if !locked {
		return nil, false, busy
	}
	prev := new(idempotencyRow)
	err := tx.NewSelect().Model(prev).
		Where("tenant_id = ? AND key_id = ? AND idempotency_key = ?", req.TenantID, req.KeyID, req.Key).
		Where("created_at > ?", now().Add(-IdempotencyWindow)).
		Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case !bytes.Equal(prev.Fingerprint, req.Fingerprint):
		return nil, false, &domain.Error{Code: domain.EIDEMPOTENCY, Param: "Idempotency-Key", Message: "Keys for idempotent requests can only be used with the same method, path and body as the first request; this Idempotency-Key was used with different ones."}
	case prev.StatusCode == 0 && prev.CreatedAt.After(now().Add(-pendingLease)):
		return nil, false, busy
	case prev.StatusCode == 0:
		return nil, false, nil // its request died while waiting; this one takes the key over
	}
	return &StoredResponse{StatusCode: prev.StatusCode, Body: prev.ResponseBody, RequestID: prev.RequestID}, true, nil
}

func (s *Store) storeResponse(ctx context.Context, db bun.IDB, req IdempotentRequest, resp *StoredResponse) error {
	row := &idempotencyRow{
		TenantID: req.TenantID, KeyID: req.KeyID, IdempotencyKey: req.Key,
		Fingerprint: req.Fingerprint, RequestID: req.RequestID,
		StatusCode: resp.StatusCode, ResponseBody: resp.Body, CreatedAt: now(),
	}
	_, err := db.NewInsert().Model(row).
		On("CONFLICT (tenant_id, key_id, idempotency_key) DO UPDATE").
		Set("fingerprint = EXCLUDED.fingerprint, request_id = EXCLUDED.request_id, status_code = EXCLUDED.status_code, response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at").
		Exec(ctx)
	return err
}

// finishDetached stores the response of a request that detached, or frees its key if it
// failed, each in a statement of its own.
func (s *Store) finishDetached(ctx context.Context, req IdempotentRequest, resp *StoredResponse, fnErr error) (*StoredResponse, bool, error) {
	// The request's own context may be ending (a client gone); the bookkeeping must not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	where := "tenant_id = ? AND key_id = ? AND idempotency_key = ? AND status_code = 0 AND request_id = ?"
	if fnErr != nil {
		if _, err := s.db.NewDelete().Table("idempotency_keys").Where(where, req.TenantID, req.KeyID, req.Key, req.RequestID).Exec(ctx); err != nil {
			return nil, false, errors.Join(fnErr, err)
		}
		return nil, false, fnErr
	}
	if _, err := s.db.NewUpdate().Table("idempotency_keys").
		Set("status_code = ?, response_body = ?", resp.StatusCode, resp.Body).
		Where(where, req.TenantID, req.KeyID, req.Key, req.RequestID).Exec(ctx); err != nil {
		return nil, false, err
	}
	return resp, false, nil
}

// DeleteExpiredIdempotencyKeys removes responses past the replay window.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context) (int64, error) {
	res, err := s.db.NewDelete().Table("idempotency_keys").
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
