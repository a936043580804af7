package main

import (
	"crypto/rand"
	"log/slog"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/threada/threada/internal/console"
	"github.com/threada/threada/internal/secretbox"
)

// mountConsole serves the admin console at /admin. It is a client of this API: its pages
// call the API's own handlers in process (inProcessAPI), with the signed-in session's key,
// so it sees and may do exactly what that key may, with no database access of its own but
// its sessions. It must be mounted last, once every API route is registered.
func (s *server) mountConsole(app *fiber.App) {
	api := &inProcessAPI{}
	cn, err := console.New(api, s.store, s.consoleCookieKey, s.log)
	if err != nil {
		panic(err) // the templates are embedded and newServer made the key: only a bug gets here
	}
	cn.SecureCookies = s.consoleSecureCookies
	cn.Register(app)
	api.handler = app.Handler()
}

// consoleCookieKey returns the key that tags console session cookies, derived from
// SECRETS_KEY so that every API process accepts the cookies the others set. Without
// SECRETS_KEY it is random: sessions then work with this process only, until it stops.
func consoleCookieKey(box *secretbox.Box, log *slog.Logger) []byte {
	if box != nil {
		return box.Derive("threada console session cookie")
	}
	log.Warn("SECRETS_KEY is not set: admin console sessions are tagged with a key of this process only, " +
		"so they end when it restarts and other API processes refuse them")
	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails since Go 1.24.
	return key
}

// inProcessAPI sends console requests through the app's handler chain (request id, access
// log, authentication, rate limits, idempotency, error mapping) without a network hop.
type inProcessAPI struct {
	handler fasthttp.RequestHandler
}

func (a *inProcessAPI) Do(r console.APIRequest) console.APIResponse {
	var req fasthttp.Request
	req.Header.SetMethod(r.Method)
	req.SetRequestURI(r.Path)
	req.Header.SetHost("console.internal")
	req.Header.Set(headerAPIKey, r.Key)
	if r.RequestID != "" {
		req.Header.Set(headerRequestID, r.RequestID)
	}
	if r.IdempotencyKey != "" {
		req.Header.Set(headerIdempotencyKey, r.IdempotencyKey)
	}
	if r.Body != nil {
		req.Header.SetContentType(fiber.MIMEApplicationJSON)
		req.SetBody(r.Body)
	}
	ip := net.ParseIP(r.ClientIP)
	if ip == nil {
		ip = net.IPv4(127, 0, 0, 1)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: ip}, quietLogger{})
	a.handler(&ctx)
	return console.APIResponse{Status: ctx.Response.StatusCode(), Body: append([]byte(nil), ctx.Response.Body()...)}
}

// quietLogger drops fasthttp's own messages; requests are logged by accessLog.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
