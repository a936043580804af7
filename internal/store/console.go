package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type consoleSessionRow struct {
	bun.BaseModel `bun:"table:console_sessions"`

	TokenHash  []byte    `bun:"token_hash,pk"`
	TenantID   string    `bun:"tenant_id"`
	KeyID      string    `bun:"key_id"`
	KeyName    string    `bun:"key_name"`
	KeyPrefix  string    `bun:"key_prefix"`
	Scopes     []string  `bun:"scopes,array"`
	SealedKey  []byte    `bun:"sealed_key"`
	CreatedAt  time.Time `bun:"created_at"`
	LastSeenAt time.Time `bun:"last_seen_at"`
}

func (r *consoleSessionRow) toDomain() *domain.ConsoleSession {
	return &domain.ConsoleSession{TokenHash: r.TokenHash, TenantID: r.TenantID, KeyID: r.KeyID, KeyName: r.KeyName,
		KeyPrefix: r.KeyPrefix, Scopes: r.Scopes, SealedKey: r.SealedKey, CreatedAt: r.CreatedAt.UTC(), LastSeenAt: r.LastSeenAt.UTC()}
}

// CreateConsoleSession stores a new session, filling its times, and keeps at most
// maxPerKey sessions of its key (the oldest go) so that signing in again and again stores
// nothing without bound. Sessions idle for longer than idle, of any key, are deleted too.
func (s *Conn) CreateConsoleSession(ctx context.Context, cs *domain.ConsoleSession, maxPerKey int, idle time.Duration) error {
	cs.CreatedAt, cs.LastSeenAt = now(), now()
	return s.InTx(ctx, func(tx *Conn) error {
		row := &consoleSessionRow{TokenHash: cs.TokenHash, TenantID: cs.TenantID, KeyID: cs.KeyID, KeyName: cs.KeyName,
			KeyPrefix: cs.KeyPrefix, Scopes: cs.Scopes, SealedKey: cs.SealedKey, CreatedAt: cs.CreatedAt, LastSeenAt: cs.LastSeenAt}
		if _, err := tx.db.NewInsert().Model(row).Exec(ctx); err != nil {
			return wrapErr(err, "")
		}
		if _, err := tx.db.NewDelete().Model((*consoleSessionRow)(nil)).
			Where("key_id = ? AND token_hash NOT IN (?)", cs.KeyID,
				tx.db.NewSelect().Model((*consoleSessionRow)(nil)).Column("token_hash").
					Where("key_id = ?", cs.KeyID).OrderExpr("created_at DESC").Limit(int64(maxPerKey))).
			Exec(ctx); err != nil {
			return err
		}
		_, err := tx.db.NewDelete().Model((*consoleSessionRow)(nil)).Where("last_seen_at < ?", cs.LastSeenAt.Add(-idle)).Exec(ctx)
		return err
	})
}

// ConsoleSession returns the session whose token hashes to tokenHash if it has been used
// within idle, and marks it used now (at most once every touchEvery, so that a page view
// costs no write). ENOTFOUND when there is none or it has been idle too long.
func (s *Conn) ConsoleSession(ctx context.Context, tokenHash []byte, idle, touchEvery time.Duration) (*domain.ConsoleSession, error) {
	row := new(consoleSessionRow)
	at := now()
	err := s.db.NewSelect().Model(row).Where("token_hash = ? AND last_seen_at >= ?", tokenHash, at.Add(-idle)).Scan(ctx)
	if err != nil {
		return nil, wrapErr(err, "No such session.")
	}
	if at.Sub(row.LastSeenAt) >= touchEvery {
		if _, err := s.db.NewUpdate().Model((*consoleSessionRow)(nil)).Set("last_seen_at = ?", at).
			Where("token_hash = ?", tokenHash).Exec(ctx); err != nil {
			return nil, err
		}
		row.LastSeenAt = at
	}
	return row.toDomain(), nil
}

// DeleteConsoleSession ends a session; ending one that is gone is not an error.
func (s *Conn) DeleteConsoleSession(ctx context.Context, tokenHash []byte) error {
	_, err := s.db.NewDelete().Model((*consoleSessionRow)(nil)).Where("token_hash = ?", tokenHash).Exec(ctx)
	return err
}

// DeleteConsoleSessionsOf ends every session of a key (signing out after it was revoked).
func (s *Conn) DeleteConsoleSessionsOf(ctx context.Context, keyID string) error {
	_, err := s.db.NewDelete().Model((*consoleSessionRow)(nil)).Where("key_id = ?", keyID).Exec(ctx)
	return err
}
