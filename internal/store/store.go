// Package store keeps Threada's data in PostgreSQL through bun. Every data method runs on
// a Conn that the caller chooses: the pool (the Store), where each call is atomic on its
// own, or one transaction, handed out by InTx or Idempotent, where calls commit together.
// Transactions are passed explicitly, never found in a context. Driver errors become domain
// error codes here, at the edge.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
)

// Store is the PostgreSQL-backed implementation of the domain's stores. Its data methods
// (those of Conn) run on the connection pool, each call atomic on its own; to make several
// calls one unit, run them on the *Conn that InTx hands its function.
type Store struct {
	Conn
	db     *bun.DB
	name   string // the database's, for traces
	closed chan struct{}

	notifyOnce sync.Once
	notifyWake chan struct{}

	hook       bun.QueryHook // tracing, called by execPrepared too; nil without
	preparedMu sync.Mutex    // held while preparing
	stmts      sync.Map      // *prepared -> *sql.Stmt, those prepared on the pool
}

// Conn is where store calls run: the pool (the Store itself) or one transaction (the Conn
// InTx or Idempotent hands a function). A caller that needs two writes to commit together
// says so by making both on one transaction's Conn; nothing is ever found in a context.
type Conn struct {
	root *Store
	db   bun.IDB  // the pool or a bun.Tx
	tx   *txState // nil on the pool
}

// Options tune the connection pool.
type Options struct {
	// MaxOpenConns: 0 means 8 per CPU, at least 16. A ticket write waits mostly for its
	// commit's WAL flush, not for a CPU, and the commits of concurrent connections share
	// a flush: with 8 connections on 2 CPUs the API created 15 % fewer tickets a second
	// than with 16 (issue 21), and 32 did no better than 16.
	MaxOpenConns int
	// ApplicationName names the process's connections in pg_stat_activity (threada-api,
	// threada-worker); "" means threada.
	ApplicationName string
	// LongStatements lifts the driver's 10 s bound on waiting for an answer, for the
	// migrations: one that rewrites or indexes a large table runs for minutes at 10^7
	// tickets (docs/benchmarks.md). Request and job code keeps the bound.
	LongStatements bool
}

// Open connects to dsn and checks the connection at once, so a wrong or unreachable
// DATABASE_URL fails at start with a one-line message that never holds a password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	db, err := openDB(dsn, cmp.Or(opts.ApplicationName, "threada"), opts.LongStatements)
	if err != nil {
		return nil, err
	}
	// database/sql keeps only 2 idle connections by default, so under concurrency most
	// queries would pay for a new connection; keep the whole pool warm instead.
	n := opts.MaxOpenConns
	if n <= 0 {
		n = max(16, 8*runtime.GOMAXPROCS(0))
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, describeConnError(dsn, err)
	}
	s := &Store{db: db, closed: make(chan struct{}), name: databaseName(dsn)}
	s.Conn = Conn{root: s, db: db}
	return s, nil
}

func openDB(dsn, appName string, long bool) (db *bun.DB, err error) {
	if err := config.CheckDatabaseURL(dsn); err != nil {
		return nil, err
	}
	// pgdriver panics on a DSN it cannot use; turn that into an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("DATABASE_URL cannot be used: %v", r)
		}
	}()
	// The driver gives up on a statement whose context ends by closing the connection, and
	// PostgreSQL would otherwise go on with it (a statement waiting on a lock would still
	// make its change once it got the lock, after its caller was told 503): with the
	// client's connection checked every second, it is cancelled and rolled back instead.
	opts := []pgdriver.Option{pgdriver.WithDSN(dsn), pgdriver.WithApplicationName(appName),
		pgdriver.WithConnParams(map[string]any{"client_connection_check_interval": strconv.Itoa(clientCheckMillis)})}
	if long {
		opts = append(opts, pgdriver.WithReadTimeout(0)) // 0: no deadline but the context's
	}
	connector := pgdriver.NewConnector(opts...)
	return bun.NewDB(sql.OpenDB(connector), dialect{pgdialect.New()}), nil
}

// databaseName is the database a DATABASE_URL names.
func databaseName(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	return strings.Trim(u.Path, "/")
}

// describeConnError names what went wrong connecting, and where, without the password.
func describeConnError(dsn string, err error) error {
	where := "PostgreSQL"
	if u, perr := url.Parse(dsn); perr == nil {
		db := strings.Trim(u.Path, "/")
		where = fmt.Sprintf("PostgreSQL at %s (database %q, user %q)", u.Host, db, u.User.Username())
	}
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		switch pgErr.Field('C') {
		case "3D000":
			return fmt.Errorf("cannot use %s: the database does not exist; `api migrate` creates it", where)
		case "28P01", "28000":
			return fmt.Errorf("cannot use %s: authentication failed", where)
		}
		return fmt.Errorf("cannot use %s: %s", where, pgErr.Field('M'))
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach %s: %v", where, err)
	}
	return fmt.Errorf("cannot connect to %s: %v", where, err)
}

// DB returns the underlying bun handle, for tests and benchmarks that set up data or
// measure the store against raw inserts. Production code outside this package does not
// use it (TestNothingReachesPastTheStore): what it needs of the database is a method here.
func (s *Store) DB() *bun.DB { return s.db }

// ObservePool hands the connection pool to observe, for its statistics (metrics).
func (s *Store) ObservePool(observe func(*sql.DB)) { observe(s.db.DB) }

// Close stops the store's background work and closes the connection pool.
func (s *Store) Close() error {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.closePrepared()
	return s.db.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// txState is an open transaction, with what to run once it commits.
type txState struct {
	tx    bun.Tx
	after []func(context.Context)
	idem  *idemState // set on the transaction of an Idempotent call
	// deferred holds automations' ticket changes until FlushTicketWrites.
	deferred []deferredWrite
}

// InTx runs fn in one transaction and commits it when fn returns nil. Called on a Conn that
// is already a transaction, fn joins it (and commits with it).
func (s *Conn) InTx(ctx context.Context, fn func(tx *Conn) error) error {
	if s.tx != nil {
		return fn(s)
	}
	st := &txState{}
	err := s.root.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		st.tx = tx
		return fn(&Conn{root: s.root, db: tx, tx: st})
	})
	if err != nil {
		return err
	}
	st.runAfter(ctx)
	return nil
}

// AfterCommit runs fn once the transaction s is part of has committed, or at once on the
// pool. Work that must only follow a durable write, such as starting a workflow for a
// stored action, goes here.
func (s *Conn) AfterCommit(ctx context.Context, fn func(context.Context)) {
	if s.tx != nil {
		s.tx.after = append(s.tx.after, fn)
		return
	}
	fn(ctx)
}

func (st *txState) runAfter(ctx context.Context) {
	for _, f := range st.after {
		f(ctx)
	}
	st.after = nil
}

// wrapErr turns driver errors into domain errors: no rows -> ENOTFOUND (with msg),
// unique violation -> ECONFLICT. Other errors pass through as internal.
func wrapErr(err error, notFound string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Errorf(domain.ENOTFOUND, "%s", notFound)
	}
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) && pgErr.Field('C') == "23505" {
		return domain.Errorf(domain.ECONFLICT, "%s", "the record already exists")
	}
	return err
}

// pageOf converts up to limit rows of a keyset query that asked for limit+1, and reports
// whether more rows follow.
func pageOf[R, T any](rows []R, limit int, convert func(*R) T) ([]T, bool) {
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	out := make([]T, len(rows))
	for i := range rows {
		out[i] = convert(&rows[i])
	}
	return out, more
}

// now is the store's clock: UTC, at the microsecond precision PostgreSQL keeps, so a value
// read back equals the value written.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// clientCheckMillis is how often PostgreSQL checks, while it runs a statement, that the
// connection's client is still there (client_connection_check_interval).
const clientCheckMillis = 1000

// Busy reports whether err is a statement given up on rather than a fault: cut off when
// its caller's context ended (the driver's read times out then), or cancelled by a
// statement or lock timeout. A request that meets it is told to retry (503), not that
// something broke.
func Busy(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		switch pgErr.Field('C') {
		case "57014", "55P03": // query_canceled, lock_not_available
			return true
		}
	}
	return false
}
