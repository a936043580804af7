// Package cli is the api binary's command line: serve (through the server the binary
// hands it), migrate, tenant (create, update, offboard, rotate-data-key) and key (create,
// revoke, verify), and the container health check. See Usage.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/webhook"
)

// ErrUsage marks errors in how the command was called; main exits 2 for them.
var ErrUsage = errors.New("usage")

// Usage is what `api help` prints.
const Usage = `Usage:
  api [serve]                         serve the HTTP API on HTTP_ADDR
  api migrate                         create the database if missing, apply pending migrations
  api migrate status                  list migrations and whether each is applied
  api migrate rollback                revert the last group of migrations
  api tenant create --name NAME [--actions-base-url URL] [--allowed-hosts a.example.com,...]
  api tenant update TENANT_ID [--actions-base-url URL] [--allowed-hosts a.example.com,...]
  api tenant offboard TENANT_ID --confirm TENANT_ID
                                      revoke the tenant's keys, cancel its workflows, delete
                                      every row of it in batches, then its data keys (what is
                                      left of it in Temporal's histories becomes unreadable)
  api tenant rotate-data-key TENANT_ID
                                      seal the tenant's new Temporal payloads with a new key
                                      (the old one still opens older histories)
  api key create --tenant ID --name NAME --scopes support.read,support.write,support.actions [--expires-at T]
                                      scopes: support.read, support.write, support.actions,
                                      admin.keys, admin.automations, admin.settings, admin.audit,
                                      admin.actions
  api key revoke KEY_ID
  api key verify                      check the key in THREADA_API_KEY (exit 0 when usable)
  api healthcheck                     exit 0 when the API on HTTP_ADDR is ready (for containers)

Environment: DATABASE_URL, HTTP_ADDR, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_UI_URL,
SECRETS_KEY (tenant create, rotate-data-key), LOG_LEVEL, SHUTDOWN_TIMEOUT, METRICS_ADDR, OTEL_* (traces).`

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s\n\n%s", ErrUsage, fmt.Sprintf(format, args...), Usage)
}

// Binary is what the CLI takes from the api binary: its server, and the API's shape of a
// key (which `key create` prints, as the admin API answers).
type Binary struct {
	Serve   func(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) error
	KeyView func(*domain.APIKey) any
}

// Run is the whole program: it reads the environment through getenv and writes results to
// stdout, logs to stderr; `serve` (and no command) calls bin.Serve.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, bin Binary) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	cmd, rest := "serve", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return bin.Serve(ctx, cfg, getenv, log)
	case "migrate":
		return migrateCmd(ctx, cfg, rest, stdout)
	case "tenant":
		return tenantCmd(ctx, cfg, rest, stdout, log)
	case "key":
		return keyCmd(ctx, cfg, rest, getenv, stdout, bin.KeyView)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, Usage)
		return nil
	}
	return usageErr("unknown command %q", cmd)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func migrateCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	if sub == "" {
		if err := store.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 4, LongStatements: true})
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "":
		names, err := st.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrating: %w", err)
		}
		return printJSON(stdout, map[string]any{"applied": nonNil(names)})
	case "rollback":
		names, err := st.Rollback(ctx)
		if err != nil {
			return fmt.Errorf("rolling back: %w", err)
		}
		return printJSON(stdout, map[string]any{"rolled_back": nonNil(names)})
	case "status":
		states, err := st.MigrationStatus(ctx)
		if err != nil {
			return err
		}
		type row struct {
			Name      string `json:"name"`
			Applied   bool   `json:"applied"`
			AppliedAt string `json:"applied_at,omitempty"`
		}
		rows := make([]row, len(states))
		for i, s := range states {
			rows[i] = row{Name: s.Name, Applied: s.Applied}
			if s.Applied {
				rows[i].AppliedAt = s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
		}
		return printJSON(stdout, map[string]any{"migrations": rows})
	}
	return usageErr("unknown migrate command %q", sub)
}

// healthcheck asks the local API's /readyz; container images have no curl.
func healthcheck(ctx context.Context, cfg config.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cfg.HTTPAddr+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s", resp.Status)
	}
	return nil
}

// openStore opens the small pool a one-shot command needs.
func openStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	return store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 2})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func tenantCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return usageErr("expected `tenant create`, `tenant update`, `tenant offboard` or `tenant rotate-data-key`")
	}
	switch args[0] {
	case "create":
		return tenantCreate(ctx, cfg, args[1:], stdout)
	case "update":
		return tenantUpdate(ctx, cfg, args[1:], stdout)
	case "offboard":
		return tenantOffboard(ctx, cfg, args[1:], stdout, log)
	case "rotate-data-key":
		return tenantRotateDataKey(ctx, cfg, args[1:], stdout)
	}
	return usageErr("unknown tenant command %q", args[0])
}

func tenantCreate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "tenant name")
	baseURL := fs.String("actions-base-url", "", "base URL relative action URLs resolve against")
	hosts := fs.String("allowed-hosts", "", "comma-separated hosts absolute action URLs may name")
	if err := fs.Parse(args); err != nil {
		return usageErr("%v", err)
	}
	if strings.TrimSpace(*name) == "" {
		return usageErr("--name is required")
	}
	if err := domain.CheckActionsBaseURL("--actions-base-url", *baseURL); err != nil {
		return usageErr("%v", err)
	}
	allowed, err := domain.NormalizeAllowedHosts("--allowed-hosts", strings.Split(*hosts, ","))
	if err != nil {
		return usageErr("%v", err)
	}
	box, err := cfg.Box()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	t := &domain.Tenant{ID: domain.NewID(domain.PrefixTenant), Name: strings.TrimSpace(*name), ActionsBaseURL: *baseURL, AllowedHosts: allowed}
	secret := webhook.NewSecret()
	if err := st.CreateTenant(ctx, t, box.Seal(secret, t.ID)); err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{
		"tenant_id": t.ID, "name": t.Name, "actions_base_url": t.ActionsBaseURL,
		"allowed_hosts": t.AllowedHosts, "signing_secret": secret,
	})
}

func tenantUpdate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageErr("expected `tenant update TENANT_ID [--actions-base-url URL] [--allowed-hosts a,b] [--delivery-weight W]`")
	}
	id := args[0]
	fs := flag.NewFlagSet("tenant update", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	baseURL := fs.String("actions-base-url", "", "base URL relative action URLs resolve against (empty removes it)")
	hosts := fs.String("allowed-hosts", "", "comma-separated hosts absolute action URLs may name (replaces the list)")
	weight := fs.Float64("delivery-weight", domain.DefaultDeliveryWeight, "the tenant's share of the shared engine against other tenants with work waiting")
	if err := fs.Parse(args[1:]); err != nil {
		return usageErr("%v", err)
	}
	var u domain.TenantUpdate
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "actions-base-url":
			bad = errors.Join(bad, domain.CheckActionsBaseURL("--actions-base-url", *baseURL))
			u.ActionsBaseURL = baseURL
		case "allowed-hosts":
			list, err := domain.NormalizeAllowedHosts("--allowed-hosts", strings.Split(*hosts, ","))
			bad = errors.Join(bad, err)
			u.AllowedHosts = &list
		case "delivery-weight":
			u.DeliveryWeight = weight
		}
	})
	if bad != nil {
		return usageErr("%v", bad)
	}
	if u.ActionsBaseURL == nil && u.AllowedHosts == nil && u.DeliveryWeight == nil {
		return usageErr("nothing to update: give --actions-base-url, --allowed-hosts and/or --delivery-weight")
	}
	if err := u.Check(); err != nil {
		return usageErr("%v", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	_, t, err := st.UpdateTenant(ctx, id, u)
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"tenant_id": t.ID, "name": t.Name, "actions_base_url": t.ActionsBaseURL,
		"allowed_hosts": t.AllowedHosts, "delivery_weight": t.DeliveryWeight})
}

func keyCmd(ctx context.Context, cfg config.Config, args []string, getenv func(string) string, stdout io.Writer, view func(*domain.APIKey) any) error {
	if len(args) == 0 {
		return usageErr("expected `key create`, `key revoke` or `key verify`")
	}
	switch args[0] {
	case "create":
		return keyCreate(ctx, cfg, args[1:], stdout, view)
	case "revoke":
		if len(args) != 2 {
			return usageErr("expected `key revoke KEY_ID`")
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.RevokeKey(ctx, args[1]); err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"key_id": args[1], "revoked": true})
	case "verify":
		return keyVerify(ctx, cfg, getenv("THREADA_API_KEY"), stdout)
	}
	return usageErr("unknown key command %q", args[0])
}

func keyCreate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer, view func(*domain.APIKey) any) error {
	fs := flag.NewFlagSet("key create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tenant := fs.String("tenant", "", "tenant id")
	name := fs.String("name", "", "key name, e.g. the integration it is for")
	scopeList := fs.String("scopes", "", "comma-separated scopes")
	expires := fs.String("expires-at", "", "optional expiry, RFC 3339")
	if err := fs.Parse(args); err != nil {
		return usageErr("%v", err)
	}
	if *tenant == "" || strings.TrimSpace(*name) == "" {
		return usageErr("--tenant and --name are required")
	}
	scopes, err := domain.ParseScopes("scopes", *scopeList)
	if err != nil {
		return usageErr("--scopes: %v", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	k := &domain.APIKey{ID: domain.NewID(domain.PrefixKey), TenantID: *tenant, Name: strings.TrimSpace(*name), Scopes: scopes}
	if *expires != "" {
		at, err := time.Parse(time.RFC3339, *expires)
		if err != nil || !at.After(time.Now()) {
			return usageErr("--expires-at must be a future RFC 3339 time like 2027-01-01T00:00:00Z")
		}
		at = at.UTC()
		k.ExpiresAt = &at
	}
	secret, hash := auth.NewSecret(k.ID)
	k.Prefix = auth.DisplayPrefix(secret)
	if err := st.CreateKey(ctx, k, hash); err != nil {
		return err
	}
	// The admin API's shape ({"key": ..., "api_key": ...}), plus key_id at the top for
	// scripts written against the first version of this command.
	return printJSON(stdout, map[string]any{"key_id": k.ID, "api_key": secret, "key": view(k)})
}

// keyVerify checks a secret the way the API does, for scripts such as `make dev` that
// keep a demo key and need to know it still works.
func keyVerify(ctx context.Context, cfg config.Config, secret string, stdout io.Writer) error {
	if secret == "" {
		return usageErr("set THREADA_API_KEY to the key to verify")
	}
	keyID, ok := auth.KeyIDFromSecret(secret)
	if !ok {
		return errors.New("THREADA_API_KEY is not a Threada API key")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ak, err := st.KeyForAuth(ctx, keyID)
	if err != nil || !auth.Matches(secret, ak.Hash) {
		return errors.New("the key is unknown")
	}
	key := &ak.Key
	if key.RevokedAt != nil || key.Expired(time.Now()) {
		return fmt.Errorf("key %s is revoked or expired", key.ID)
	}
	return printJSON(stdout, map[string]any{"key_id": key.ID, "tenant_id": key.TenantID, "scopes": key.Scopes})
}
