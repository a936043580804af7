package main

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// postOnly routes POST path to handlers and answers every other method 405 with
// `Allow: POST`. Without it a literal segment such as automations/backtest would fall
// through, for GET, PATCH and DELETE, to the automations/:automation_id routes and answer
// 404 "No automation "backtest"".
func postOnly(r fiber.Router, path string, handlers ...fiber.Handler) {
	r.Post(path, handlers...)
	refuse := func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderAllow, fiber.MethodPost)
		return fiber.ErrMethodNotAllowed
	}
	for _, m := range fiber.DefaultMethods {
		if m != fiber.MethodPost {
			r.Add(m, path, refuse).Name(refusingRoute)
		}
	}
}

// refusingRoute names the routes postOnly adds to answer 405: they serve nothing.
const refusingRoute = "405"

// allowedMethods lists, for a 405's Allow header, the methods app routes for path: those
// of the most specific route pattern that matches it (fewest parameters). HEAD is among
// them wherever GET is: Fiber answers it.
func allowedMethods(app *fiber.App, path string) string {
	var methods []string
	best := -1
	for _, r := range app.GetRoutes(true) {
		if r.Method == "USE" || r.Name == refusingRoute {
			continue
		}
		params, ok := matchPattern(r.Path, path)
		switch {
		case !ok || (best >= 0 && params > best):
			continue
		case best < 0 || params < best:
			best, methods = params, methods[:0]
		}
		if !slices.Contains(methods, r.Method) {
			methods = append(methods, r.Method)
		}
	}
	return strings.Join(methods, ", ")
}

// matchPattern reports whether a Fiber route pattern (":name" is one segment, "*" the
// rest) matches path, and how many parameters it took.
func matchPattern(pattern, path string) (params int, ok bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	ss := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range ps {
		switch {
		case p == "*" || strings.HasPrefix(p, "*"):
			return params + 1, true
		case i >= len(ss):
			return 0, false
		case strings.HasPrefix(p, ":"):
			if ss[i] == "" {
				return 0, false
			}
			params++
		case p != ss[i]:
			return 0, false
		}
	}
	return params, len(ps) == len(ss)
}
