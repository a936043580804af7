package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// A prepared statement: the hottest writes (a ticket create) are sent as one statement
// PostgreSQL parsed and planned once per connection, with their values bound apart from
// the text. bun formats every value into the statement's text, so PostgreSQL parses and
// plans each one anew: for the create's three-insert statement that was 40 % of its
// cost (pgbench, the same statement: 3,100-3,500 per second as text, 5,300-5,800
// prepared; issue 21). database/sql prepares it on each pooled connection the first time
// that connection runs it.
//
// A prepared statement's plan may be kept for the connection's life (PostgreSQL's generic
// plan, made with the statistics of that moment): fine for the create, which reads no
// table; a statement that reads a growing table must be planned per execution (see
// processBatch), or be left as text like the outbox's claim.
//
// Behind a connection pooler in transaction mode, named statements need PgBouncer 1.21 or
// later with max_prepared_statements set (see the README's production section).
type prepared struct{ query string }

func newPrepared(query string) *prepared { return &prepared{query: query} }

// stmtFor returns p prepared on s's pool (each Store keeps its own: a statement belongs to
// one pool, and tests open many).
func (s *Store) stmtFor(ctx context.Context, p *prepared) (*sql.Stmt, error) {
	if stmt, ok := s.stmts.Load(p); ok {
		return stmt.(*sql.Stmt), nil
	}
	s.preparedMu.Lock()
	defer s.preparedMu.Unlock()
	if stmt, ok := s.stmts.Load(p); ok {
		return stmt.(*sql.Stmt), nil
	}
	stmt, err := s.db.DB.PrepareContext(ctx, p.query)
	if err != nil {
		return nil, err // tried again next time
	}
	s.stmts.Store(p, stmt)
	return stmt, nil
}

// closePrepared closes every statement prepared on the pool (at Close).
func (s *Store) closePrepared() {
	s.preparedMu.Lock()
	defer s.preparedMu.Unlock()
	s.stmts.Range(func(p, stmt any) bool {
		_ = stmt.(*sql.Stmt).Close()
		s.stmts.Delete(p)
		return true
	})
}

// execPrepared runs p with args on s (the pool or its transaction), traced like any other
// statement: the span holds the statement's text with its placeholders, never its values.
func (s *Conn) execPrepared(ctx context.Context, p *prepared, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.runPrepared(ctx, p, func(ctx context.Context, stmt *sql.Stmt) (err error) {
		res, err = stmt.ExecContext(ctx, args...)
		return err
	}, func() sql.Result { return res })
	return res, err
}

// scanPrepared runs p with args on s and scans its rows into dest (as bun's Scan does).
func (s *Conn) scanPrepared(ctx context.Context, p *prepared, dest any, args ...any) error {
	return s.runPrepared(ctx, p, func(ctx context.Context, stmt *sql.Stmt) error {
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return s.root.db.ScanRows(ctx, rows, dest)
	}, func() sql.Result { return nil })
}

func (s *Conn) runPrepared(ctx context.Context, p *prepared, run func(context.Context, *sql.Stmt) error, result func() sql.Result) error {
	stmt, err := s.root.stmtFor(ctx, p)
	if err != nil {
		return err
	}
	if s.tx != nil {
		stmt = s.tx.tx.StmtContext(ctx, stmt)
		defer stmt.Close() // the transaction's copy only; the pool's stays prepared
	}
	hook := s.root.hook
	var event *bun.QueryEvent
	if hook != nil {
		event = &bun.QueryEvent{DB: s.root.db, Query: p.query, QueryTemplate: p.query, StartTime: time.Now()}
		ctx = hook.BeforeQuery(ctx, event)
	}
	err = run(ctx, stmt)
	if hook != nil {
		event.Result, event.Err = result(), err
		hook.AfterQuery(ctx, event)
	}
	return err
}

// textArray is a text[] parameter's value: every element quoted, so that no tag can read
// as NULL or split in two.
func textArray(elems []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range e {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// nullable is s as a parameter: NULL when not valid.
func nullable(s sql.NullString) any {
	if !s.Valid {
		return nil
	}
	return s.String
}
