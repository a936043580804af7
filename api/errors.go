package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// Public error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typePermission     = "permission_error"
	typeNotFound       = "not_found_error"
	typeConflict       = "conflict_error"
	typeIdempotency    = "idempotency_error"
	typeRateLimit      = "rate_limit_error"
	typeAPI            = "api_error"
	typeUnavailable    = "service_unavailable_error"
)

// errorBody is the one shape every error answers with.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Code      int    `json:"code"`
	Param     string `json:"param,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

var codeStatus = map[string]struct {
	status int
	typ    string
}{
	domain.EINVALID:         {fiber.StatusBadRequest, typeInvalidRequest},
	domain.EIDEMPOTENCY:     {fiber.StatusBadRequest, typeIdempotency},
	domain.EUNAUTHENTICATED: {fiber.StatusUnauthorized, typeAuthentication},
	domain.EFORBIDDEN:       {fiber.StatusForbidden, typePermission},
	domain.ENOTFOUND:        {fiber.StatusNotFound, typeNotFound},
	domain.ECONFLICT:        {fiber.StatusConflict, typeConflict},
	domain.ERATELIMIT:       {fiber.StatusTooManyRequests, typeRateLimit},
	domain.EUNAVAILABLE:     {fiber.StatusServiceUnavailable, typeUnavailable},
}

// errorHandler maps every error a handler returns, and the ones Fiber and fasthttp raise
// themselves (unknown route, wrong method, body too large), to the public error body.
// Internal errors are logged with the request id and never shown.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		d := describe(c, err)
		if d.Type == typeUnavailable && c.GetRespHeader(fiber.HeaderRetryAfter) == "" {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		reqID := ensureRequestID(c)
		if d.Code >= 500 && d.Type == typeAPI {
			log.Error("request failed", "request_id", reqID, "method", c.Method(), "path", c.Path(), "err", err)
		}
		d.RequestID = reqID
		c.Status(d.Code)
		return c.JSON(errorBody{Error: d})
	}
}

func describe(c *fiber.Ctx, err error) errorDetail {
	var de *domain.Error
	if errors.As(err, &de) {
		if m, ok := codeStatus[de.Code]; ok {
			return errorDetail{Type: m.typ, Message: de.Message, Code: m.status, Param: de.Param}
		}
		return internalError()
	}
	if errors.Is(err, context.DeadlineExceeded) || store.Busy(err) {
		// The database did not answer within the request's bound: the pool is exhausted,
		// or PostgreSQL is slow or waiting on a lock and the statement was cancelled. A
		// transaction cut short by it rolls back.
		return errorDetail{Type: typeUnavailable, Code: fiber.StatusServiceUnavailable,
			Message: "The service is busy right now. Retry shortly (with the same Idempotency-Key, for a POST)."}
	}
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		return internalError()
	}
	d := errorDetail{Type: typeInvalidRequest, Code: fe.Code, Message: fe.Message}
	switch fe.Code {
	case fiber.StatusNotFound:
		d.Type = typeNotFound
		d.Message = fmt.Sprintf("Unrecognized request URL (%s %s).", c.Method(), c.Path())
	case fiber.StatusMethodNotAllowed:
		allow := c.GetRespHeader(fiber.HeaderAllow)
		if allow == "" {
			allow = allowedMethods(c.App(), c.Path())
			c.Set(fiber.HeaderAllow, allow)
		}
		d.Message = fmt.Sprintf("Method %s is not allowed for %s.", c.Method(), c.Path())
		if allow != "" {
			d.Message = fmt.Sprintf("Method %s is not allowed for %s; it accepts %s.", c.Method(), c.Path(), allow)
		}
	case fiber.StatusRequestEntityTooLarge:
		d.Message = fmt.Sprintf("Request body is larger than the limit of %d bytes.", bodyLimit)
	case fiber.StatusUnsupportedMediaType:
		d.Message = "Content-Type must be application/json."
	case fiber.StatusServiceUnavailable:
		d.Type = typeUnavailable
	default:
		if fe.Code >= 500 {
			return internalError()
		}
	}
	return d
}

func internalError() errorDetail {
	return errorDetail{Type: typeAPI, Code: fiber.StatusInternalServerError,
		Message: "An internal error occurred; it has been logged. Quote the request_id when contacting support."}
}
