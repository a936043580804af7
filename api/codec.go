package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/threada/threada/internal/domain"
)

// The Temporal payload codec endpoint (issue 22): the Temporal UI's "codec server" setting
// points at it so that ops read sealed payloads (internal/sealing) in the UI. It speaks
// Temporal's remote codec protocol: POST {endpoint}/decode and {endpoint}/encode with
// {"payloads": [...]}, answered in kind. It is behind the ops credential CODEC_TOKEN, sent
// as `Authorization: Bearer TOKEN` or, for a UI that sends no credential of its own (the
// dev server's), as a path segment: the endpoint is then /ops/codec/TOKEN. Logs and traces
// show that path with the token replaced. Without CODEC_TOKEN the routes do not exist.
const (
	codecPrefix      = "/ops/codec"
	maxCodecPayloads = 1000
)

// mountCodec adds the codec routes when the process has a keyring and a CODEC_TOKEN.
func (s *server) mountCodec(app *fiber.App) {
	if s.keys == nil || s.codecToken == "" {
		return
	}
	for _, base := range []string{codecPrefix, codecPrefix + "/:token"} {
		app.Options(base+"/:op", s.codecCORS, func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) })
		app.Post(base+"/decode", s.codecCORS, s.codecAuth, s.codecHandler(s.keys.OpenReadable))
		app.Post(base+"/encode", s.codecCORS, s.codecAuth, s.codecHandler(s.keys.SealForOps))
	}
}

// codecCORS lets the Temporal UI (TEMPORAL_UI_URL's origin) call the endpoint from the
// browser, with the credentials it may send.
func (s *server) codecCORS(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderOrigin)
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && origin == s.codecOrigin {
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		c.Set(fiber.HeaderAccessControlAllowMethods, "POST, OPTIONS")
		c.Set(fiber.HeaderAccessControlAllowHeaders, "Authorization, Content-Type, X-Namespace")
		c.Set(fiber.HeaderAccessControlMaxAge, "600")
	}
	return c.Next()
}

// codecAuth admits a request that carries CODEC_TOKEN, compared in constant time.
func (s *server) codecAuth(c *fiber.Ctx) error {
	token := c.Params("token")
	if h, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer "); ok && token == "" {
		token = strings.TrimSpace(h)
	}
	want, got := sha256.Sum256([]byte(s.codecToken)), sha256.Sum256([]byte(token))
	if token == "" || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return domain.Errorf(domain.EUNAUTHENTICATED, "The codec endpoint needs the ops credential (CODEC_TOKEN), as `Authorization: Bearer TOKEN` or in the endpoint's path.")
	}
	return c.Next()
}

// codecHandler answers a remote codec request with convert applied to its payloads.
func (s *server) codecHandler(convert func([]*commonpb.Payload) ([]*commonpb.Payload, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in commonpb.Payloads
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(c.Body(), &in); err != nil {
			return domain.Errorf(domain.EINVALID, "The body must be {\"payloads\": [...]}, Temporal payloads in JSON.")
		}
		if len(in.Payloads) > maxCodecPayloads {
			return domain.Errorf(domain.EINVALID, "At most %d payloads a request.", maxCodecPayloads)
		}
		out, err := convert(in.Payloads)
		if err != nil {
			s.log.Warn("codec endpoint", "err", err)
			return domain.Errorf(domain.EINVALID, "The payloads could not be converted: %v", err)
		}
		b, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(b)
	}
}

// loggablePath is the request's path for logs and traces: a codec path that carries the
// ops credential shows a placeholder instead.
func loggablePath(path string) string {
	rest, ok := strings.CutPrefix(path, codecPrefix+"/")
	if !ok {
		return path
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return codecPrefix + "/{token}" + rest[i:]
	}
	if rest == "decode" || rest == "encode" {
		return path
	}
	return codecPrefix + "/{token}"
}

// originOf is the scheme://host of an http(s) URL, or "".
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
