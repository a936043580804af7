// Package config reads the settings both binaries share from the environment, once, with
// defaults, and validates them.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/secretbox"
)

// Defaults used when a variable is unset.
const (
	DefaultDatabaseURL        = "postgres://postgres@127.0.0.1:5432/threada?sslmode=disable"
	DefaultHTTPAddr           = "127.0.0.1:8080"
	DefaultTemporalAddress    = "127.0.0.1:7233"
	DefaultTemporalNamespace  = "default"
	DefaultShutdownTimeout    = 20 * time.Second
	DefaultRateLimitKeyRPS    = 50
	DefaultRateLimitTenantRPS = 200
	// DefaultRateLimitUnauthenticatedRPS limits requests without a valid key, per client
	// address.
	DefaultRateLimitUnauthenticatedRPS = 5
	// DefaultHostConcurrency bounds the attempts in flight to one destination of a tenant.
	DefaultHostConcurrency = 16
)

// Config is every setting, read by Load.
type Config struct {
	DatabaseURL       string
	HTTPAddr          string
	TemporalAddress   string
	TemporalNamespace string
	// TaskQueue is where action workflows run; the API and the workers must agree on it.
	TaskQueue       string
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	// SecretsKey seals tenants' webhook signing secrets (base64, 32 bytes). Needed by the
	// commands that create or read them: tenant create and the worker.
	SecretsKey string
	// TemporalUIURL, when set, makes the API link each action to its run in the UI.
	TemporalUIURL string
	// EgressAllowCIDRs lets action calls reach otherwise refused ranges (e.g. 127.0.0.0/8).
	EgressAllowCIDRs string
	// AutomationMaxDepth is how long a chain of automations triggering each other may get.
	AutomationMaxDepth int
	// Rate limits in requests per second, per key and per tenant (0 turns one off), and
	// how many API processes share them: each process enforces its share.
	RateLimitKeyRPS    int
	RateLimitTenantRPS int
	RateLimitProcesses int
	// RateLimitUnauthenticatedRPS limits requests without a valid key per client address.
	RateLimitUnauthenticatedRPS int
	// HostConcurrency is how many attempts may be in flight to one destination of a tenant,
	// across all workers.
	HostConcurrency int
	// DatabaseMaxConns is the most connections the process opens to PostgreSQL; 0 sizes
	// the pool from the CPUs (store.Options).
	DatabaseMaxConns int
	// MetricsAddr, when set, is where the process serves Prometheus metrics (/metrics);
	// the worker serves its health checks there too. Off when empty.
	MetricsAddr string
	// ConsoleSecureCookies marks the admin console's cookies Secure on every response, not
	// only on requests that arrive over TLS: for an API behind a TLS-terminating proxy
	// (CONSOLE_SECURE_COOKIES=always; the default, auto, looks at the request).
	ConsoleSecureCookies bool
	// CodecToken is the ops credential of the Temporal payload codec endpoint the API
	// serves for the Temporal UI (/ops/codec): at least 32 characters; without it the
	// endpoint is off and sealed payloads read as ciphertext in the UI.
	CodecToken string
}

// MinCodecTokenLen is the shortest CODEC_TOKEN accepted.
const MinCodecTokenLen = 32

// Load reads the configuration through getenv (os.Getenv in production) and validates it.
// Its errors never carry a password.
func Load(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		DatabaseURL:       get("DATABASE_URL", DefaultDatabaseURL),
		HTTPAddr:          get("HTTP_ADDR", DefaultHTTPAddr),
		TemporalAddress:   get("TEMPORAL_ADDRESS", DefaultTemporalAddress),
		TemporalNamespace: get("TEMPORAL_NAMESPACE", DefaultTemporalNamespace),
		TaskQueue:         get("TEMPORAL_TASK_QUEUE", contract.DefaultTaskQueue),
		ShutdownTimeout:   DefaultShutdownTimeout,
		SecretsKey:        strings.TrimSpace(getenv("SECRETS_KEY")),
		TemporalUIURL:     strings.TrimSuffix(strings.TrimSpace(getenv("TEMPORAL_UI_URL")), "/"),
		EgressAllowCIDRs:  strings.TrimSpace(getenv("ACTIONS_EGRESS_ALLOW_CIDRS")),
		MetricsAddr:       strings.TrimSpace(getenv("METRICS_ADDR")),
		CodecToken:        strings.TrimSpace(getenv("CODEC_TOKEN")),
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error; got %q", getenv("LOG_LEVEL"))
	}
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("SHUTDOWN_TIMEOUT must be a positive duration like 20s; got %q", v)
		}
		c.ShutdownTimeout = d
	}
	c.AutomationMaxDepth = domain.DefaultMaxChainDepth
	if v := strings.TrimSpace(getenv("AUTOMATION_MAX_CHAIN_DEPTH")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 {
			return c, fmt.Errorf("AUTOMATION_MAX_CHAIN_DEPTH must be an integer from 1 to 10; got %q", v)
		}
		c.AutomationMaxDepth = n
	}
	if err := c.readCounts(getenv); err != nil {
		return c, err
	}
	switch v := strings.TrimSpace(getenv("CONSOLE_SECURE_COOKIES")); v {
	case "", "auto":
	case "always":
		c.ConsoleSecureCookies = true
	default:
		return c, fmt.Errorf("CONSOLE_SECURE_COOKIES must be auto or always; got %q", v)
	}
	return c, c.checkAddresses()
}

// readCounts reads the integer settings, each with its default and least value.
func (c *Config) readCounts(getenv func(string) string) error {
	for _, v := range []struct {
		name     string
		dst      *int
		def, min int
	}{
		{"RATE_LIMIT_KEY_RPS", &c.RateLimitKeyRPS, DefaultRateLimitKeyRPS, 0},
		{"RATE_LIMIT_TENANT_RPS", &c.RateLimitTenantRPS, DefaultRateLimitTenantRPS, 0},
		{"RATE_LIMIT_PROCESSES", &c.RateLimitProcesses, 1, 1},
		{"RATE_LIMIT_UNAUTHENTICATED_RPS", &c.RateLimitUnauthenticatedRPS, DefaultRateLimitUnauthenticatedRPS, 0},
		{"ACTIONS_HOST_CONCURRENCY", &c.HostConcurrency, DefaultHostConcurrency, 1},
		{"DATABASE_MAX_CONNS", &c.DatabaseMaxConns, 0, 0},
	} {
		*v.dst = v.def
		if raw := strings.TrimSpace(getenv(v.name)); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < v.min || n > 1_000_000 {
				return fmt.Errorf("%s must be an integer from %d; got %q", v.name, v.min, raw)
			}
			*v.dst = n
		}
	}
	return nil
}

// checkAddresses checks the URLs, addresses and tokens Load read.
func (c Config) checkAddresses() error {
	if err := CheckDatabaseURL(c.DatabaseURL); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("HTTP_ADDR must be host:port, like 127.0.0.1:8080; got %q", c.HTTPAddr)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("METRICS_ADDR must be host:port, like 127.0.0.1:9464, or unset; got %q", c.MetricsAddr)
		}
	}
	if c.TemporalUIURL != "" {
		if u, err := url.Parse(c.TemporalUIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("TEMPORAL_UI_URL must be an http(s) URL like http://127.0.0.1:8233; got %q", c.TemporalUIURL)
		}
	}
	if c.CodecToken != "" && (len(c.CodecToken) < MinCodecTokenLen || strings.ContainsAny(c.CodecToken, "/?#% ")) {
		return fmt.Errorf("CODEC_TOKEN must be at least %d characters without / ? # %% or spaces (e.g. `openssl rand -hex 32`), or unset", MinCodecTokenLen)
	}
	if _, _, err := net.SplitHostPort(c.TemporalAddress); err != nil {
		return fmt.Errorf("TEMPORAL_ADDRESS must be host:port, like 127.0.0.1:7233; got %q", c.TemporalAddress)
	}
	return nil
}

// CheckDatabaseURL checks that dsn is a postgres:// URL naming a database. Its error
// describes the problem without repeating the URL, which may hold a password.
func CheckDatabaseURL(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Errorf("DATABASE_URL is not a valid URL: %v", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("DATABASE_URL must start with postgres://; got scheme %q", u.Scheme)
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return fmt.Errorf("DATABASE_URL names no host")
	}
	if strings.Trim(u.Path, "/") == "" {
		return fmt.Errorf("DATABASE_URL names no database (expected postgres://user@host:port/DBNAME)")
	}
	return nil
}

// Box returns the sealer of signing secrets, or an error saying SECRETS_KEY is needed.
func (c Config) Box() (*secretbox.Box, error) {
	if c.SecretsKey == "" {
		return nil, fmt.Errorf("SECRETS_KEY is required: it seals tenants' webhook signing secrets (generate one with `openssl rand -base64 32` and keep it safe)")
	}
	return secretbox.New(c.SecretsKey)
}

// RedactURL returns dsn with any password replaced, for logs and messages.
func RedactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// LogValue logs the configuration with secrets masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", RedactURL(c.DatabaseURL)),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("temporal_address", c.TemporalAddress),
		slog.String("temporal_namespace", c.TemporalNamespace),
		slog.String("temporal_task_queue", c.TaskQueue),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.Bool("secrets_key_set", c.SecretsKey != ""),
		slog.Bool("codec_token_set", c.CodecToken != ""),
		slog.String("temporal_ui_url", c.TemporalUIURL),
		slog.String("actions_egress_allow_cidrs", c.EgressAllowCIDRs),
		slog.Int("automation_max_chain_depth", c.AutomationMaxDepth),
		slog.Int("rate_limit_key_rps", c.RateLimitKeyRPS),
		slog.Int("rate_limit_tenant_rps", c.RateLimitTenantRPS),
		slog.Int("rate_limit_processes", c.RateLimitProcesses),
		slog.Int("rate_limit_unauthenticated_rps", c.RateLimitUnauthenticatedRPS),
		slog.Int("database_max_conns", c.DatabaseMaxConns),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Bool("console_secure_cookies", c.ConsoleSecureCookies),
	)
}

// DefaultGCPercent is the Go garbage collector's target the api and worker processes run
// with unless GOGC is set: the heap may grow to three times what is live before a
// collection (Go's default lets it double). Their live heaps are small (tens of MB), and
// under the write load of issue 21 a collection every doubling took a tenth of both
// processes' CPU on a 2-core machine, CPU the database then lacked.
const DefaultGCPercent = 200

// TuneGC sets the garbage collector's target to DefaultGCPercent unless GOGC (read through
// getenv) says otherwise.
func TuneGC(getenv func(string) string) {
	if strings.TrimSpace(getenv("GOGC")) == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}
