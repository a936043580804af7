package main

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// erasureView is an erasure as the API shows it: what kind of subject, a hash of it, and
// what was erased, never the person's data.
type erasureView struct {
	ErasureID   string           `json:"erasure_id"`
	Subject     string           `json:"subject"`
	SubjectHash string           `json:"subject_hash"`
	Status      string           `json:"status"`
	Counts      map[string]int64 `json:"counts"`
	CreatedAt   timestamp        `json:"created_at"`
	UpdatedAt   timestamp        `json:"updated_at"`
	CompletedAt *timestamp       `json:"completed_at"`
}

type erasureEnvelope struct {
	Erasure erasureView `json:"erasure"`
}

func erasureViewOf(e *domain.Erasure) erasureView {
	return erasureView{ErasureID: e.ID, Subject: e.SubjectKind, SubjectHash: e.SubjectHash, Status: e.Status, Counts: e.Counts,
		CreatedAt: timestamp(e.CreatedAt), UpdatedAt: timestamp(e.UpdatedAt), CompletedAt: optTime(e.CompletedAt)}
}

type createErasureRequest struct {
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// createErasure handles POST /erasures: the person's email or phone number is erased from
// every record of the tenant's that holds it, by the worker, in batches; the answer is the
// erasure, running, to follow with GET /erasures/{id}. Audited without the person's data.
func (s *server) createErasure(c *fiber.Ctx, db *store.Conn) error {
	var req createErasureRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	subj, err := domain.NewErasureSubject(req.Email, req.Phone)
	if err != nil {
		return err
	}
	key := keyOf(c)
	var e *domain.Erasure
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		var err error
		if e, err = tx.CreateErasure(ctx, key.TenantID, subj, "key:"+key.ID); err != nil {
			return err
		}
		return s.audit(c, tx, "erasure.create", e.ID, nil, map[string]string{"subject": e.SubjectKind, "subject_hash": e.SubjectHash})
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(erasureEnvelope{Erasure: erasureViewOf(e)})
}

// getErasure handles GET /erasures/{erasure_id}.
func (s *server) getErasure(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	id := c.Params("erasure_id")
	if !domain.ValidID(domain.PrefixErasure, id) {
		return domain.Errorf(domain.ENOTFOUND, "No erasure %q exists.", id)
	}
	e, err := s.store.GetErasure(c.UserContext(), keyOf(c).TenantID, id)
	if err != nil {
		return err
	}
	return c.JSON(erasureEnvelope{Erasure: erasureViewOf(e)})
}
