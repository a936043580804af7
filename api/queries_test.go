package main

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/valyala/fasthttp"

	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
)

// queryCounter counts every statement bun sends to PostgreSQL, to prove what a request
// costs the database.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	q.n.Add(1)
	return ctx
}

func (q *queryCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

// during returns how many statements f sent.
func (q *queryCounter) during(f func()) int64 {
	before := q.n.Load()
	f()
	return q.n.Load() - before
}

// newCountedEnv is newTestEnv with every statement of its store counted. The hook is
// added before the server starts: bun does not expect hooks added while it runs queries.
func newCountedEnv(t *testing.T) (*testEnv, *queryCounter) {
	t.Helper()
	st := dbtest.New(t)
	q := &queryCounter{}
	st.DB().AddQueryHook(q)
	return newEnvOn(t, "127.0.0.1:1", st), q
}

// noUsageWrites keeps the keys' last_used_at writes, which run in the background, out of
// the counts: as far as the server knows, they were written just now.
func (e *testEnv) noUsageWrites(keys ...string) {
	for _, k := range keys {
		e.srv.usage.due(keyIDOf(k), time.Now(), usageEvery)
	}
}

// doFrom is do from the client address ip (app.Test's requests all come from one). It
// sends no body.
func (e *testEnv) doFrom(ip string, r req) *response {
	e.t.Helper()
	var fr fasthttp.Request
	fr.Header.SetMethod(r.method)
	fr.SetRequestURI(r.path)
	fr.Header.SetHost("example.com")
	if r.key != "" {
		fr.Header.Set(headerAPIKey, r.key)
	}
	for k, v := range r.header {
		fr.Header.Set(k, v)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&fr, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, quietLogger{})
	e.app.Handler()(&ctx)
	resp := &response{Status: ctx.Response.StatusCode(), Header: http.Header{}, Body: append([]byte(nil), ctx.Response.Body()...)}
	ctx.Response.Header.VisitAll(func(k, v []byte) { resp.Header.Add(string(k), string(v)) })
	validateAgainstSpec(e.t, r, nil, resp)
	return resp
}

// madeUpKey returns a well-formed secret naming a key id nobody issued.
func madeUpKey() string {
	secret, _ := auth.NewSecret(domain.NewID(domain.PrefixKey))
	return secret
}
