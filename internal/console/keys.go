package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

type keyJSON struct {
	KeyID                   string   `json:"key_id"`
	Name                    string   `json:"name"`
	Scopes                  []string `json:"scopes"`
	Prefix                  string   `json:"prefix"`
	CreatedAt               string   `json:"created_at"`
	LastUsedAt              *string  `json:"last_used_at"`
	ExpiresAt               *string  `json:"expires_at"`
	RevokedAt               *string  `json:"revoked_at"`
	RotatedAt               *string  `json:"rotated_at"`
	PreviousSecretExpiresAt *string  `json:"previous_secret_expires_at"`
}

type keyEnvelope struct {
	Key    keyJSON `json:"key"`
	APIKey string  `json:"api_key"`
}

type page[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token"`
}

type keysView struct {
	Keys      []keyJSON
	Next      string
	Scopes    []string // what a new key may hold: the session key's own scopes
	Form      keyForm
	FormError string
	Created   *keyEnvelope // a key just created or rotated, with its secret, shown once
	Rotated   bool
	Notice    string
	Self      string
}

type keyForm struct {
	Name      string
	Scopes    []string
	ExpiresAt string
}

const maxNameLen = 200

func (cn *Console) listKeys(c *fiber.Ctx, s *session, v *keysView) error {
	var p page[keyJSON]
	if err := cn.call(c, s, http.MethodGet, "/api/v1/admin/api-keys"+query("limit", "50", "page_token", pageToken(c)), nil, &p); err != nil {
		return err
	}
	v.Keys, v.Next, v.Scopes, v.Self = p.Items, nextQuery(c, p.NextPageToken), s.Scopes, s.KeyID
	return nil
}

// pageToken is the page_token query parameter, bounded (the API checks what it holds).
func pageToken(c *fiber.Ctx) string {
	if t := c.Query("page_token"); len(t) <= 1000 {
		return t
	}
	return ""
}

var keyNotices = map[string]string{"revoked": "The key was revoked: requests with it now get 401."}

// keysPage lists the tenant's keys with the form that creates one.
func (cn *Console) keysPage(c *fiber.Ctx, s *session) error {
	v := &keysView{Notice: keyNotices[c.Query("done")]}
	if err := cn.listKeys(c, s, v); err != nil {
		return err
	}
	return cn.render(c, s, http.StatusOK, "keys", "API keys", v)
}

// createKey creates a key and shows its secret this once (the page is not cached, and the
// secret is in no URL).
func (cn *Console) createKey(c *fiber.Ctx, s *session) error {
	form := keyForm{Name: strings.TrimSpace(c.FormValue("name")), ExpiresAt: c.FormValue("expires_at")}
	args := c.Request().PostArgs()
	for _, sc := range args.PeekMulti("scopes") {
		if len(form.Scopes) < len(domain.AllScopes) {
			form.Scopes = append(form.Scopes, string(sc))
		}
	}
	body := map[string]any{"name": form.Name, "scopes": form.Scopes}
	v := &keysView{Form: form}
	if len(form.Name) > maxNameLen {
		v.FormError = "The name is too long (at most 200 characters)."
	} else if form.ExpiresAt != "" {
		at, err := time.Parse("2006-01-02T15:04", form.ExpiresAt)
		if err != nil {
			v.FormError = "The expiry must be a date and time (UTC)."
		}
		body["expires_at"] = at.UTC().Format(time.RFC3339)
	}
	if v.FormError == "" {
		var created keyEnvelope
		err := cn.callWith(c, s.key, http.MethodPost, "/api/v1/admin/api-keys", body, &created, idempotencyKey(c))
		var ae *APIError
		switch {
		case errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusForbidden):
			v.FormError = ae.Message
		case err != nil:
			return err
		case created.APIKey == "":
			v.FormError = "This form was already sent: the key was created then, and its secret was shown that once."
		default:
			v.Created = &created
			v.Form = keyForm{}
		}
	}
	if err := cn.listKeys(c, s, v); err != nil {
		return err
	}
	status := http.StatusOK
	if v.FormError != "" {
		status = http.StatusBadRequest
	} else if v.Created != nil {
		status = http.StatusCreated
	}
	return cn.render(c, s, status, "keys", "API keys", v)
}

// idempotencyKey is the one the form carries (made when the page was rendered), so a form
// sent twice creates once.
func idempotencyKey(c *fiber.Ctx) string {
	k := c.FormValue("idempotency_key")
	if len(k) < 16 || len(k) > 64 {
		return ""
	}
	return "console-" + k
}

type keyActionView struct {
	Key   keyJSON
	Error string
	Self  bool
}

func (cn *Console) keyParam(c *fiber.Ctx, s *session) (keyJSON, error) {
	id := c.Params("key_id")
	if !domain.ValidID(domain.PrefixKey, id) {
		return keyJSON{}, &APIError{Status: http.StatusNotFound, Message: "There is no such key."}
	}
	var env keyEnvelope
	err := cn.call(c, s, http.MethodGet, "/api/v1/admin/api-keys/"+id, nil, &env)
	return env.Key, err
}

// rotateKeyPage asks for the grace period before rotating.
func (cn *Console) rotateKeyPage(c *fiber.Ctx, s *session) error {
	k, err := cn.keyParam(c, s)
	if err != nil {
		return err
	}
	return cn.render(c, s, http.StatusOK, "key-rotate", "Rotate "+k.Name, keyActionView{Key: k, Self: k.KeyID == s.KeyID})
}

// rotateKey gives the key a new secret, shown once; the old one works for the grace period.
func (cn *Console) rotateKey(c *fiber.Ctx, s *session) error {
	k, err := cn.keyParam(c, s)
	if err != nil {
		return err
	}
	grace, err := strconv.Atoi(c.FormValue("grace_period_seconds"))
	if err != nil || grace < 0 || grace > 30*86400 {
		return cn.render(c, s, http.StatusBadRequest, "key-rotate", "Rotate "+k.Name, keyActionView{Key: k, Error: "Choose a grace period."})
	}
	var rotated keyEnvelope
	err = cn.callWith(c, s.key, http.MethodPost, "/api/v1/admin/api-keys/"+k.KeyID+"/rotate", map[string]any{"grace_period_seconds": grace}, &rotated, idempotencyKey(c))
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest || errors.As(err, &ae) && ae.Status == http.StatusForbidden {
		return cn.render(c, s, ae.Status, "key-rotate", "Rotate "+k.Name, keyActionView{Key: k, Error: ae.Message})
	}
	if err != nil {
		return err
	}
	v := &keysView{Created: &rotated, Rotated: true}
	if rotated.APIKey == "" {
		v.Notice = "This form was already sent: the key was rotated then, and its new secret was shown that once."
		v.Created = nil
	}
	if err := cn.listKeys(c, s, v); err != nil {
		if k.KeyID == s.KeyID && grace == 0 {
			return cn.toSignIn(c, "key") // the session's own secret just stopped working
		}
		return err
	}
	return cn.render(c, s, http.StatusOK, "keys", "API keys", v)
}

// revokeKeyPage asks for confirmation.
func (cn *Console) revokeKeyPage(c *fiber.Ctx, s *session) error {
	k, err := cn.keyParam(c, s)
	if err != nil {
		return err
	}
	return cn.render(c, s, http.StatusOK, "key-revoke", "Revoke "+k.Name, keyActionView{Key: k, Self: k.KeyID == s.KeyID})
}

// revokeKey revokes the key; revoking the session's own key ends the session.
func (cn *Console) revokeKey(c *fiber.Ctx, s *session) error {
	k, err := cn.keyParam(c, s)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != k.Name {
		return cn.render(c, s, http.StatusBadRequest, "key-revoke", "Revoke "+k.Name, keyActionView{Key: k, Self: k.KeyID == s.KeyID,
			Error: "Type the key's name exactly to confirm."})
	}
	if err := cn.call(c, s, http.MethodPost, "/api/v1/admin/api-keys/"+k.KeyID+"/revoke", nil, nil); err != nil {
		return err
	}
	return c.Redirect(Prefix+"/keys?done=revoked", fiber.StatusSeeOther)
}
