package domain

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Scopes an API key can carry.
const (
	ScopeSupportRead    = "support.read"
	ScopeSupportWrite   = "support.write"
	ScopeSupportActions = "support.actions"
	// ScopeAdminAutomations manages automations under /api/v1/admin.
	ScopeAdminAutomations = "admin.automations"
)

// AllScopes is the closed list of scopes, in documentation order.
var AllScopes = []string{ScopeSupportRead, ScopeSupportWrite, ScopeSupportActions, ScopeAdminAutomations}

// Tenant is one customer account; every other record belongs to exactly one tenant.
type Tenant struct {
	ID             string
	Name           string
	ActionsBaseURL string
	AllowedHosts   []string // hosts absolute action URLs may name
	CreatedAt      time.Time
}

// ActionSettings returns what an action's URL is checked against.
func (t *Tenant) ActionSettings() ActionSettings {
	return ActionSettings{ActionsBaseURL: t.ActionsBaseURL, AllowedHosts: t.AllowedHosts}
}

// TenantUpdate changes some of a tenant's settings; nil fields are kept.
type TenantUpdate struct {
	ActionsBaseURL *string
	AllowedHosts   *[]string
}

// APIKey is a tenant's credential for one integration. The secret itself is never kept:
// only its hash, which the store does not hand out.
type APIKey struct {
	ID        string
	TenantID  string
	Name      string
	Prefix    string // the first characters of the secret, safe to display
	Scopes    []string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// HasScope reports whether the key carries scope.
func (k *APIKey) HasScope(scope string) bool { return slices.Contains(k.Scopes, scope) }

// ParseScopes splits a comma-separated scope list and checks it against AllScopes.
func ParseScopes(param, list string) ([]string, error) {
	var scopes []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(AllScopes, s) {
			return nil, Invalidf(param, "unknown scope %q; scopes are %s.", s, strings.Join(AllScopes, ", "))
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

// TenantStore keeps tenants and their API keys.
type TenantStore interface {
	// CreateTenant stores a new tenant with its sealed webhook signing secret.
	CreateTenant(ctx context.Context, t *Tenant, sealedSigningSecret []byte) error
	// UpdateTenant changes a tenant's settings. ENOTFOUND.
	UpdateTenant(ctx context.Context, id string, u TenantUpdate) (*Tenant, error)
	// SealedSigningSecret returns the tenant's sealed signing secret. ENOTFOUND.
	SealedSigningSecret(ctx context.Context, id string) ([]byte, error)
	// GetTenant returns one tenant. ENOTFOUND.
	GetTenant(ctx context.Context, id string) (*Tenant, error)
	// CreateKey stores a key with the hash of its secret. ENOTFOUND for an unknown tenant.
	CreateKey(ctx context.Context, k *APIKey, secretHash []byte) error
	// KeyForAuth returns a key and its secret hash for authentication. ENOTFOUND.
	KeyForAuth(ctx context.Context, keyID string) (*APIKey, []byte, error)
	// RevokeKey marks a key revoked. ENOTFOUND.
	RevokeKey(ctx context.Context, keyID string) error
}
