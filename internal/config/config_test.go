package config

import (
	"log/slog"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != DefaultDatabaseURL || c.HTTPAddr != DefaultHTTPAddr || c.TemporalAddress != DefaultTemporalAddress ||
		c.TemporalNamespace != "default" || c.LogLevel != slog.LevelInfo || c.MetricsAddr != "" || c.ConsoleSecureCookies {
		t.Errorf("defaults: %+v", c)
	}
	if c.DatabaseMaxConns != 0 {
		t.Errorf("DATABASE_MAX_CONNS unset: %d, want 0 (sized from the CPUs)", c.DatabaseMaxConns)
	}
	if c, err := Load(env(map[string]string{"DATABASE_MAX_CONNS": "24"})); err != nil || c.DatabaseMaxConns != 24 {
		t.Errorf("DATABASE_MAX_CONNS=24: %d %v", c.DatabaseMaxConns, err)
	}
	if c, err := Load(env(map[string]string{"CODEC_TOKEN": strings.Repeat("ab", 16)})); err != nil || c.CodecToken != strings.Repeat("ab", 16) {
		t.Errorf("CODEC_TOKEN: %q %v", c.CodecToken, err)
	}
	if c, err := Load(env(map[string]string{"CONSOLE_SECURE_COOKIES": "always"})); err != nil || !c.ConsoleSecureCookies {
		t.Errorf("CONSOLE_SECURE_COOKIES=always: %v %v", c.ConsoleSecureCookies, err)
	}
}

func TestLoadRefusesBadValuesWithoutLeakingPasswords(t *testing.T) {
	for name, m := range map[string]map[string]string{
		"log level":     {"LOG_LEVEL": "loud"},
		"http addr":     {"HTTP_ADDR": "8080"},
		"temporal addr": {"TEMPORAL_ADDRESS": "localhost"},
		"db url":        {"DATABASE_URL": "postgres://u:pw-secret@h:xx/db"},
		"db scheme":     {"DATABASE_URL": "http://u:pw-secret@h/db"},
		"timeout":       {"SHUTDOWN_TIMEOUT": "soon"},
		"metrics addr":  {"METRICS_ADDR": "9464"},
		"cookies":       {"CONSOLE_SECURE_COOKIES": "yes"},
		"pool":          {"DATABASE_MAX_CONNS": "-1"},
		"pool words":    {"DATABASE_MAX_CONNS": "many"},
		"codec short":   {"CODEC_TOKEN": "pw-secret"},
		"codec slash":   {"CODEC_TOKEN": "pw-secret/0123456789abcdef0123456789abcdef"},
	} {
		_, err := Load(env(m))
		if err == nil || strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	if got := RedactURL("postgres://u:pw-secret@h:5432/db"); strings.Contains(got, "pw-secret") || !strings.Contains(got, "h:5432/db") {
		t.Errorf("RedactURL = %q", got)
	}
}
