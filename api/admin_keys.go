package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

type keyView struct {
	KeyID                   string     `json:"key_id"`
	TenantID                string     `json:"tenant_id"`
	Name                    string     `json:"name"`
	Scopes                  []string   `json:"scopes"`
	Prefix                  string     `json:"prefix"`
	CreatedAt               timestamp  `json:"created_at"`
	LastUsedAt              *timestamp `json:"last_used_at"`
	ExpiresAt               *timestamp `json:"expires_at"`
	RevokedAt               *timestamp `json:"revoked_at"`
	RotatedAt               *timestamp `json:"rotated_at"`
	PreviousSecretExpiresAt *timestamp `json:"previous_secret_expires_at"`
}

// keyEnvelope answers key endpoints; APIKey (the secret) only on create and rotate.
type keyEnvelope struct {
	Key    keyView `json:"key"`
	APIKey string  `json:"api_key,omitempty"`
}

func keyViewOf(k *domain.APIKey) keyView {
	return keyView{
		KeyID: k.ID, TenantID: k.TenantID, Name: k.Name, Scopes: k.Scopes, Prefix: k.Prefix,
		CreatedAt: timestamp(k.CreatedAt), LastUsedAt: optTime(k.LastUsedAt), ExpiresAt: optTime(k.ExpiresAt),
		RevokedAt: optTime(k.RevokedAt), RotatedAt: optTime(k.RotatedAt), PreviousSecretExpiresAt: optTime(k.PreviousExpiresAt),
	}
}

// withSecret answers an envelope holding a secret, and stores it for idempotent replays
// without the secret: a secret is shown once.
func withSecret(c *fiber.Ctx, status int, shown, stored any) error {
	if b, err := json.Marshal(stored); err == nil {
		c.Locals(localStoredBody, b)
	}
	return c.Status(status).JSON(shown)
}

type createKeyRequest struct {
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// createKey handles POST /api-keys: 201 with the key and, this once, its secret.
func (s *server) createKey(c *fiber.Ctx, db *store.Conn) error {
	var req createKeyRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	name, err := domain.CheckName("name", req.Name, domain.MaxKeyNameLen)
	if err != nil {
		return err
	}
	scopes, err := domain.NormalizeScopes("scopes", req.Scopes)
	if err != nil {
		return err
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(time.Now()) {
		return domain.Invalidf("expires_at", "`expires_at` must be in the future.")
	}
	if err := s.withinScopes(c, "create", nil, scopes); err != nil {
		return err
	}
	k := &domain.APIKey{ID: domain.NewID(domain.PrefixKey), TenantID: keyOf(c).TenantID, Name: name, Scopes: scopes}
	if req.ExpiresAt != nil {
		at := req.ExpiresAt.UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &at
	}
	secret, hash := auth.NewSecret(k.ID)
	k.Prefix = auth.DisplayPrefix(secret)
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		if err := tx.CreateKey(ctx, k, hash); err != nil {
			return err
		}
		return s.audit(c, tx, "api_key.create", k.ID, nil, keyViewOf(k))
	})
	if err != nil {
		return err
	}
	view := keyViewOf(k)
	return withSecret(c, fiber.StatusCreated, keyEnvelope{Key: view, APIKey: secret}, keyEnvelope{Key: view})
}

// getKey handles GET /api-keys/{key_id}.
func (s *server) getKey(c *fiber.Ctx) error {
	k, err := s.keyParam(c, &s.store.Conn)
	if err != nil {
		return err
	}
	return c.JSON(keyEnvelope{Key: keyViewOf(k)})
}

// listKeys handles GET /api-keys, newest first.
func (s *server) listKeys(c *fiber.Ctx) error {
	tenantID := keyOf(c).TenantID
	l, err := parseListing(c, "api_keys", tenantID)
	if err != nil {
		return err
	}
	var after *store.KeyCursor
	if l.after != nil {
		after = &store.KeyCursor{CreatedAt: l.after.time(), ID: l.after.ID}
	}
	keys, more, err := s.store.ListKeys(c.UserContext(), tenantID, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, keys, more, keyViewOf, func(k *domain.APIKey) (time.Time, string) { return k.CreatedAt, k.ID }))
}

type rotateKeyRequest struct {
	GracePeriodSeconds *int `json:"grace_period_seconds"`
}

// rotateKey handles POST /api-keys/{key_id}/rotate: a new secret for the same key id; the
// old one works until the grace period (default a day, 0 for none) ends.
func (s *server) rotateKey(c *fiber.Ctx, db *store.Conn) error {
	k, err := s.keyParam(c, db)
	if err != nil {
		return err
	}
	if err := s.withinScopes(c, "rotate", k, k.Scopes); err != nil {
		return err
	}
	var req rotateKeyRequest
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	grace := domain.DefaultKeyGrace
	if g := req.GracePeriodSeconds; g != nil {
		if *g < 0 || *g > int(domain.MaxKeyGrace.Seconds()) { // compared as ints: no overflow
			return domain.Invalidf("grace_period_seconds", "`grace_period_seconds` must be from 0 to %d.", int(domain.MaxKeyGrace.Seconds()))
		}
		grace = time.Duration(*g) * time.Second
	}
	secret, hash := auth.NewSecret(k.ID)
	var after *domain.APIKey
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		before, rotated, err := tx.RotateKey(ctx, k.TenantID, k.ID, hash, auth.DisplayPrefix(secret), grace)
		if err != nil {
			return err
		}
		after = rotated
		return s.audit(c, tx, "api_key.rotate", k.ID, keyViewOf(before), keyViewOf(rotated))
	})
	if err != nil {
		return err
	}
	s.caches.keys.Evict(k.ID)
	view := keyViewOf(after)
	return withSecret(c, fiber.StatusOK, keyEnvelope{Key: view, APIKey: secret}, keyEnvelope{Key: view})
}

// revokeKey handles POST /api-keys/{key_id}/revoke: the next request with it gets 401.
func (s *server) revokeKey(c *fiber.Ctx, db *store.Conn) error {
	k, err := s.keyParam(c, db)
	if err != nil {
		return err
	}
	if err := s.withinScopes(c, "revoke", k, k.Scopes); err != nil {
		return err
	}
	var after *domain.APIKey
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		before, revoked, err := tx.RevokeTenantKey(ctx, k.TenantID, k.ID)
		if err != nil {
			return err
		}
		after = revoked
		return s.audit(c, tx, "api_key.revoke", k.ID, keyViewOf(before), keyViewOf(revoked))
	})
	if err != nil {
		return err
	}
	s.caches.keys.Evict(k.ID)
	return c.JSON(keyEnvelope{Key: keyViewOf(after)})
}

// keyParam loads {key_id} within the caller's tenant.
func (s *server) keyParam(c *fiber.Ctx, db *store.Conn) (*domain.APIKey, error) {
	if err := checkQuery(c); err != nil {
		return nil, err
	}
	id := c.Params("key_id")
	if !domain.ValidID(domain.PrefixKey, id) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No API key %q exists.", id)
	}
	return db.GetKey(c.UserContext(), keyOf(c).TenantID, id)
}

// withinScopes enforces the scope ceiling: the calling key may create, rotate or revoke
// only a key whose scopes it holds itself, so that admin.keys alone cannot mint a broader
// key or take over the secret of one. A refusal is 403 naming the missing scopes and is
// audited as auth.denied, outside the request's transaction, which rolls back.
func (s *server) withinScopes(c *fiber.Ctx, op string, target *domain.APIKey, scopes []string) error {
	caller := keyOf(c)
	var missing []string
	for _, scope := range scopes {
		if !caller.HasScope(scope) {
			missing = append(missing, scope)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	list := strings.Join(missing, ", ")
	if target == nil {
		s.auditDenied(c, caller, fmt.Sprintf("scope ceiling: %s needs %s", op, list))
		return domain.Errorf(domain.EFORBIDDEN, "This key cannot grant scopes it does not hold: %s.", list)
	}
	s.auditDenied(c, caller, fmt.Sprintf("scope ceiling: %s %s needs %s", op, target.ID, list))
	return domain.Errorf(domain.EFORBIDDEN, "This key cannot %s %s, which holds scopes this key does not: %s.", op, target.ID, list)
}
