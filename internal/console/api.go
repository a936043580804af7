package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gofiber/fiber/v2"
)

// APIRequest is one call to the Threada API on behalf of a console user.
type APIRequest struct {
	Method string
	Path   string // with its query, e.g. /api/v1/admin/api-keys?limit=50
	Body   []byte // JSON, or nil
	// Key is the API key the call is made with (X-Api-Key).
	Key string
	// ClientIP and RequestID are the browser's, so the API's rate limits, audit log and
	// logs see who asked.
	ClientIP       string
	RequestID      string
	IdempotencyKey string
}

// APIResponse is what the API answered.
type APIResponse struct {
	Status int
	Body   []byte
}

// API sends requests to the Threada API. The api binary passes its own handlers, called in
// process; anything that speaks the API over HTTP would do as well.
type API interface {
	Do(r APIRequest) APIResponse
}

// APIError is an error the API answered with, in its public shape.
type APIError struct {
	Status    int
	Type      string `json:"type"`
	Message   string `json:"message"`
	Param     string `json:"param"`
	RequestID string `json:"request_id"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

// call makes one API request with the session's key and decodes a 2xx answer into out (when
// not nil); other answers are an *APIError.
func (cn *Console) call(c *fiber.Ctx, s *session, method, path string, in, out any) error {
	return cn.callWith(c, s.key, method, path, in, out, "")
}

func (cn *Console) callWith(c *fiber.Ctx, key, method, path string, in, out any, idempotencyKey string) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	reqID, _ := c.Locals("request_id").(string)
	resp := cn.api.Do(APIRequest{Method: method, Path: path, Body: body, Key: key, ClientIP: c.IP(), RequestID: reqID, IdempotencyKey: idempotencyKey})
	if resp.Status != http.StatusUnauthorized {
		c.Locals(localKeyChecked, true)
	}
	if resp.Status >= 200 && resp.Status < 300 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
		}
		return nil
	}
	var env struct {
		Error APIError `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &env); err != nil || env.Error.Message == "" {
		return &APIError{Status: resp.Status, Type: "api_error", Message: fmt.Sprintf("The API answered %d.", resp.Status)}
	}
	env.Error.Status = resp.Status
	return &env.Error
}

// query builds a query string from name/value pairs, leaving out empty values.
func query(pairs ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			v.Set(pairs[i], pairs[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}
