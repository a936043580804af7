// Package domain holds Threada's plain types, their validation and the one error type the
// rest of the code speaks. It imports neither fiber, bun nor temporal.
package domain

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to a status and a public error type.
const (
	EINVALID         = "invalid"         // 400 invalid_request_error
	EIDEMPOTENCY     = "idempotency"     // 400 idempotency_error
	EUNAUTHENTICATED = "unauthenticated" // 401 authentication_error
	EFORBIDDEN       = "forbidden"       // 403 permission_error
	ENOTFOUND        = "not_found"       // 404 not_found_error
	ECONFLICT        = "conflict"        // 409 conflict_error
	ERATELIMIT       = "rate_limited"    // 429 rate_limit_error
	EINTERNAL        = "internal"        // 500 api_error
	EUNAVAILABLE     = "unavailable"     // 503 service_unavailable_error
)

// Error is an application error with a code, a message safe to show to a client and,
// for input errors, the name of the offending parameter.
type Error struct {
	Code    string
	Message string
	Param   string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf returns an EINVALID error naming the parameter it is about.
func Invalidf(param, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Message: fmt.Sprintf(format, args...), Param: param}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not *Error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
