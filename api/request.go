package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

// bodyLimit is the largest request body accepted (413 beyond).
const bodyLimit = 1 << 20

// decodeBody decodes a JSON object request body into dst, refusing unknown fields, a
// missing body, another content type (415) and anything after the object.
func decodeBody(c *fiber.Ctx, dst any) error {
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 {
		return domain.Invalidf("", "A JSON object request body is required.")
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return fiber.ErrUnsupportedMediaType
	}
	return decodeStrict("", body, dst)
}

// decodeStrict decodes one JSON object into dst and names the offending field on error.
// prefix is the path of the object within the request body ("" at the top).
func decodeStrict(prefix string, data []byte, dst any) error {
	if len(data) == 0 || data[0] != '{' {
		if prefix == "" {
			return domain.Invalidf("", "The request body must be a JSON object.")
		}
		return domain.Invalidf(prefix, "`%s` must be an object.", prefix)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(prefix, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Invalidf("", "The request body must hold a single JSON object and nothing after it.")
	}
	return nil
}

func jsonError(prefix string, err error) error {
	join := func(field string) string {
		switch {
		case prefix == "":
			return field
		case field == "":
			return prefix
		}
		return prefix + "." + field
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return domain.Invalidf("", "The request body is not valid JSON: %s (at byte %d).", syntaxErr.Error(), syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Invalidf("", "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &typeErr):
		field := join(typeErr.Field)
		return domain.Invalidf(field, "`%s` must be %s.", field, describeType(typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return domain.Invalidf(join(name), "Unknown field `%s` in the request body.", join(name))
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return de
	}
	return domain.Invalidf("", "The request body could not be decoded: %v", err)
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return fmt.Sprintf("of type %s", t)
}

// checkQuery refuses query parameters outside allowed, so a typo such as `stauts=open`
// is an error rather than a silently unfiltered list.
func checkQuery(c *fiber.Ctx, allowed ...string) error {
	var bad string
	c.Context().QueryArgs().VisitAll(func(k, _ []byte) {
		if bad != "" {
			return
		}
		name := string(k)
		for _, a := range allowed {
			if name == a {
				return
			}
		}
		bad = name
	})
	if bad != "" {
		return domain.Invalidf(bad, "Unknown query parameter `%s`; this endpoint accepts %s.", bad, strings.Join(allowed, ", "))
	}
	return nil
}
