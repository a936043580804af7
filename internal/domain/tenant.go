package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scopes an API key can carry.
const (
	ScopeSupportRead    = "support.read"
	ScopeSupportWrite   = "support.write"
	ScopeSupportActions = "support.actions"
	// Admin scopes, for the endpoints under /api/v1/admin.
	ScopeAdminKeys        = "admin.keys"
	ScopeAdminAutomations = "admin.automations"
	ScopeAdminSettings    = "admin.settings"
	ScopeAdminAudit       = "admin.audit"
)

// AllScopes is the closed list of scopes, in documentation order.
var AllScopes = []string{ScopeSupportRead, ScopeSupportWrite, ScopeSupportActions,
	ScopeAdminKeys, ScopeAdminAutomations, ScopeAdminSettings, ScopeAdminAudit, ScopeAdminActions}

// Limits of tenant settings and keys.
const (
	MaxRateLimitRPS      = 10_000
	DefaultKeyGrace      = 24 * time.Hour
	MaxKeyGrace          = 30 * 24 * time.Hour
	DefaultSecretOverlap = 24 * time.Hour
	MaxSecretOverlap     = 7 * 24 * time.Hour
	MaxKeyNameLen        = 200
)

// Delivery weights: a tenant's share of the shared Temporal engine against other tenants
// with work waiting (see internal/fairness). Only the operator sets it, through the CLI.
const (
	DefaultDeliveryWeight = 1.0
	MinDeliveryWeight     = 0.01
	MaxDeliveryWeight     = 100.0
)

// Tenant is one customer account; every other record belongs to exactly one tenant.
type Tenant struct {
	ID             string
	Name           string
	ActionsBaseURL string
	AllowedHosts   []string // hosts absolute action URLs may name
	// Defaults for actions whose payload gives no timeout_ms or max_attempts; nil means
	// Threada's (10 s, 5).
	DefaultTimeoutMS   *int
	DefaultMaxAttempts *int
	// Rate limit overrides in requests per second; nil means the server's default.
	RateLimitKeyRPS    *int
	RateLimitTenantRPS *int
	// DeliveryWeight is the tenant's fairness weight on the shared engine (operator-set).
	DeliveryWeight float64
	// Retention is how long its records are kept (overrides of the defaults).
	Retention Retention
	// When the signing secret was last rotated, and until when the previous one signs too.
	SigningSecretRotatedAt *time.Time
	PreviousSecretExpires  *time.Time
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// ActionSettings returns what an action's payload is checked and completed against.
func (t *Tenant) ActionSettings() ActionSettings {
	s := ActionSettings{ActionsBaseURL: t.ActionsBaseURL, AllowedHosts: t.AllowedHosts}
	if t.DefaultTimeoutMS != nil {
		s.DefaultTimeoutMS = *t.DefaultTimeoutMS
	}
	if t.DefaultMaxAttempts != nil {
		s.DefaultMaxAttempts = *t.DefaultMaxAttempts
	}
	return s
}

// TenantUpdate changes some of a tenant's settings; nil fields are kept. The Clear flags
// reset a default or an override to the server's.
type TenantUpdate struct {
	ActionsBaseURL     *string
	AllowedHosts       *[]string
	DefaultTimeoutMS   *int
	DefaultMaxAttempts *int
	RateLimitKeyRPS    *int
	RateLimitTenantRPS *int
	ClearTimeout       bool
	ClearMaxAttempts   bool
	ClearKeyRPS        bool
	ClearTenantRPS     bool
	// DeliveryWeight is set by the operator's CLI only, never by a tenant's request.
	DeliveryWeight *float64
	// Retention: a kind present with nil resets it to the default, with a value sets it.
	Retention map[RetentionKind]*int
}

// Check validates the values present.
func (u *TenantUpdate) Check() error {
	if u.ActionsBaseURL != nil {
		if err := CheckActionsBaseURL("actions_base_url", *u.ActionsBaseURL); err != nil {
			return err
		}
	}
	if u.AllowedHosts != nil {
		hosts, err := NormalizeAllowedHosts("allowed_hosts", *u.AllowedHosts)
		if err != nil {
			return err
		}
		u.AllowedHosts = &hosts
	}
	for _, c := range []struct {
		param    string
		v        *int
		min, max int
	}{
		{"action_defaults.timeout_ms", u.DefaultTimeoutMS, MinActionTimeoutMS, MaxActionTimeoutMS},
		{"action_defaults.max_attempts", u.DefaultMaxAttempts, 1, MaxActionMaxAttempts},
		{"rate_limits.key_rps", u.RateLimitKeyRPS, 1, MaxRateLimitRPS},
		{"rate_limits.tenant_rps", u.RateLimitTenantRPS, 1, MaxRateLimitRPS},
	} {
		if c.v != nil && (*c.v < c.min || *c.v > c.max) {
			return Invalidf(c.param, "`%s` must be from %d to %d, or null for the default; got %d.", c.param, c.min, c.max, *c.v)
		}
	}
	for _, kind := range RetentionKinds {
		if days := u.Retention[kind]; days != nil {
			if err := CheckRetentionDays(kind, *days); err != nil {
				return err
			}
		}
	}
	if w := u.DeliveryWeight; w != nil && !(*w >= MinDeliveryWeight && *w <= MaxDeliveryWeight) {
		return Invalidf("delivery_weight", "The delivery weight must be from %g to %g; got %g.", MinDeliveryWeight, MaxDeliveryWeight, *w)
	}
	return nil
}

// APIKey is a tenant's credential for one integration. The secret itself is never kept:
// only its hash, which the store hands out only for authentication.
type APIKey struct {
	ID                string
	TenantID          string
	Name              string
	Prefix            string // the first characters of the secret, safe to display
	Scopes            []string
	CreatedAt         time.Time
	ExpiresAt         *time.Time
	RevokedAt         *time.Time
	LastUsedAt        *time.Time
	RotatedAt         *time.Time
	PreviousExpiresAt *time.Time // until when the secret before the last rotation works
}

// HasScope reports whether the key carries scope.
func (k *APIKey) HasScope(scope string) bool { return slices.Contains(k.Scopes, scope) }

// Expired reports whether the key has passed its expiry at t.
func (k *APIKey) Expired(t time.Time) bool { return k.ExpiresAt != nil && !t.Before(*k.ExpiresAt) }

// AuthKey is what authentication needs of a key: the key and the hashes its secrets may
// match (the previous one only until PreviousExpiresAt).
type AuthKey struct {
	Key          APIKey
	Hash         []byte
	PreviousHash []byte
}

// AuditEvent records an admin change, or a refused use of a known key.
type AuditEvent struct {
	ID         string
	TenantID   string
	Actor      string // "key:<key id>", or "cli"
	Action     string // e.g. api_key.create, settings.update, automation.delete, auth.denied
	Target     string // the id of what changed
	RequestID  string
	ClientIP   string
	Before     any // nil when not applicable
	After      any
	OccurredAt time.Time
}

// ParseScopes splits a comma-separated scope list (blank items skipped, as in "a, b,")
// and checks it against AllScopes.
func ParseScopes(param, list string) ([]string, error) {
	return NormalizeScopes(param, slices.DeleteFunc(strings.Split(list, ","), func(s string) bool { return strings.TrimSpace(s) == "" }))
}

// NormalizeScopes checks scopes against the closed list AllScopes and drops duplicates.
func NormalizeScopes(param string, list []string) ([]string, error) {
	var scopes []string
	for i, s := range list {
		s = strings.TrimSpace(s)
		if !slices.Contains(AllScopes, s) {
			at := fmt.Sprintf("%s[%d]", param, i)
			return nil, Invalidf(at, "`%s`: unknown scope %q; scopes are %s.", at, s, strings.Join(AllScopes, ", "))
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 {
		return nil, Invalidf(param, "at least one scope is required; scopes are %s.", strings.Join(AllScopes, ", "))
	}
	return scopes, nil
}

// CheckName trims a one-line name and checks it is present and at most max characters.
func CheckName(param, s string, max int) (string, error) {
	return checkLine(param, s, max, true)
}
