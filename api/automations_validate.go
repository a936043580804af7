package main

import (
	"errors"
	"regexp"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/simulate"
)

type validateRequest struct {
	Condition *string                    `json:"condition"`
	Actions   *[]domain.AutomationAction `json:"actions"`
}

// validationError is one problem found, with where it is when the compiler said so.
type validationError struct {
	Param   string `json:"param"`
	Message string `json:"message"`
	Line    *int   `json:"line"`
	Column  *int   `json:"column"`
}

type validateResponse struct {
	Valid  bool              `json:"valid"`
	Errors []validationError `json:"errors"`
}

// compilerPosition finds the "line L, column C" a compile error puts in its message.
var compilerPosition = regexp.MustCompile(`line (\d+), column (\d+)`)

// validateAutomation handles POST /automations/validate: a draft's condition and actions
// (either or both) are checked as create would check them, against the tenant's settings,
// and every problem found is answered with 200 (one for the condition, one for the
// actions), with the line and column the compiler gave. Nothing is saved, so an editor can
// call it as the admin types.
func (s *server) validateAutomation(c *fiber.Ctx) error {
	var req validateRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Condition == nil && req.Actions == nil {
		// A rule of the body as a whole, so it names the body (""), as minProperties does.
		return domain.Invalidf("", "Give `condition`, `actions` or both.")
	}
	out := validateResponse{Errors: []validationError{}}
	add := func(err error) error {
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.EINVALID {
			return err
		}
		v := validationError{Param: de.Param, Message: de.Message}
		if m := compilerPosition.FindStringSubmatch(de.Message); m != nil {
			line, _ := strconv.Atoi(m[1])
			col, _ := strconv.Atoi(m[2])
			v.Line, v.Column = &line, &col
		}
		out.Errors = append(out.Errors, v)
		return nil
	}
	db := &s.store.Conn
	if req.Condition != nil {
		in := domain.AutomationInput{Condition: req.Condition}
		err := in.CheckStatic(false)
		if err == nil {
			err = simulate.CheckCondition(*req.Condition)
		}
		if err != nil {
			if err := add(err); err != nil {
				return err
			}
		}
	}
	if req.Actions != nil {
		in := domain.AutomationInput{Actions: req.Actions}
		err := in.CheckStatic(false)
		if err == nil {
			err = simulate.CheckRule(c.UserContext(), db, keyOf(c).TenantID, domain.Rule{Condition: "true", Actions: *in.Actions})
		}
		if err != nil {
			if err := add(err); err != nil {
				return err
			}
		}
	}
	out.Valid = len(out.Errors) == 0
	return c.JSON(out)
}
