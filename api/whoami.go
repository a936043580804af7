package main

import (
	"github.com/gofiber/fiber/v2"
)

// whoami handles GET /api/v1/public/whoami: the key making the request (its id, tenant,
// name, scopes and expiry; never its secret), so that a client such as the admin console
// can tell what the key may do. Any valid key may ask.
func (s *server) whoami(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	return c.JSON(keyEnvelope{Key: keyViewOf(keyOf(c))})
}
