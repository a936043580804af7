package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// usageEvery is how often at most a key's last_used_at is written.
const usageEvery = time.Minute

// deniedEvery is how often at most a refused use of one key, for one reason, is audited,
// so that a flood of refused requests cannot fill the audit log.
const deniedEvery = time.Minute

// throttle remembers when something keyed was last done.
type throttle struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due reports whether every has passed since key was last due, and if so notes now.
func (t *throttle) due(key string, now time.Time, every time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[string]time.Time{}
	}
	if last, ok := t.last[key]; ok && now.Sub(last) < every {
		return false
	}
	t.last[key] = now
	return true
}

// usage writes keys' last_used_at at most once a minute each, off the request path.
type keyUsage struct {
	store *store.Store
	log   *slog.Logger
	throttle
}

func (u *keyUsage) touch(keyID string, now time.Time) {
	if !u.due(keyID, now, usageEvery) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := u.store.TouchKey(ctx, keyID, now.UTC().Truncate(time.Microsecond)); err != nil {
			u.log.Warn("recording a key's last use", "key_id", keyID, "err", err)
		}
	}()
}

// auditDenied records a refused use of a known key (revoked, expired, missing a scope),
// at most once a minute per key and reason, off the request path.
func (s *server) auditDenied(c *fiber.Ctx, key *domain.APIKey, reason string) {
	now := time.Now()
	if !s.denied.due(key.ID+"\x00"+reason, now, deniedEvery) {
		return
	}
	ev := domain.AuditEvent{
		TenantID: key.TenantID, Actor: "key:" + key.ID, Action: "auth.denied", Target: key.ID,
		RequestID: ensureRequestID(c), ClientIP: c.IP(),
		After: map[string]string{"reason": reason, "method": c.Method(), "path": c.Path()},
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.store.RecordAudit(ctx, ev); err != nil {
			s.log.Warn("auditing a refused key", "key_id", key.ID, "err", err)
		}
	}()
}

// audit records an admin change made by the request's key, on db: the transaction of the
// change it records, so both commit or neither does.
func (s *server) audit(c *fiber.Ctx, db *store.Conn, action, target string, before, after any) error {
	key := keyOf(c)
	return db.RecordAudit(c.UserContext(), domain.AuditEvent{
		TenantID: key.TenantID, Actor: "key:" + key.ID, Action: action, Target: target,
		RequestID: ensureRequestID(c), ClientIP: c.IP(), Before: before, After: after,
	})
}

// txn runs fn in one transaction on db (joining it when db is already one, under an
// Idempotency-Key), so that a change and its audit record commit together.
func (s *server) txn(c *fiber.Ctx, db *store.Conn, fn func(ctx context.Context, tx *store.Conn) error) error {
	ctx := c.UserContext()
	return db.InTx(ctx, func(tx *store.Conn) error { return fn(ctx, tx) })
}
