package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
)

// BenchmarkAuthChain measures what authentication and rate limiting cost a request once
// the key cache is warm: the request id, access log, authorize (cache lookup, constant-time
// hash check, token buckets, last-use throttle) and a handler that does nothing.
func BenchmarkAuthChain(b *testing.B) {
	st := dbtest.New(b)
	ctx := context.Background()
	tn := &domain.Tenant{Name: "bench"}
	if err := st.CreateTenant(ctx, tn, nil); err != nil {
		b.Fatal(err)
	}
	k := &domain.APIKey{ID: domain.NewID(domain.PrefixKey), TenantID: tn.ID, Name: "bench", Scopes: []string{domain.ScopeSupportRead}}
	secret, hash := auth.NewSecret(k.ID)
	k.Prefix = auth.DisplayPrefix(secret)
	if err := st.CreateKey(ctx, k, hash); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		keyRPS, tenantRPS int
	}{
		{"limiter=off", 0, 0},
		{"limiter=on", 1_000_000_000, 1_000_000_000}, // evaluated on every request, never refusing
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, err := config.Load(func(string) string { return "" })
			if err != nil {
				b.Fatal(err)
			}
			cfg.RateLimitKeyRPS, cfg.RateLimitTenantRPS = tc.keyRPS, tc.tenantRPS
			srv, err := newServer(st, nil, slog.New(slog.NewJSONHandler(io.Discard, nil)), cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			app := srv.app()
			app.Get("/bench/auth", srv.authorize(domain.ScopeSupportRead), func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) })
			h := app.Handler()
			var fctx fasthttp.RequestCtx
			fctx.Request.SetRequestURI("/bench/auth")
			fctx.Request.Header.Set(headerAPIKey, secret)
			h(&fctx) // warms the key and tenant caches
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				fctx.Response.Reset()
				fctx.ResetUserValues() // as the server does between requests
				h(&fctx)
				if fctx.Response.StatusCode() != fiber.StatusNoContent {
					b.Fatalf("status %d: %s", fctx.Response.StatusCode(), fctx.Response.Body())
				}
			}
		})
	}
}
