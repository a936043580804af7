package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/threada/threada/internal/automations"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/internal/timers"
)

// TestOffboardTenant: `api tenant offboard` with two tenants, each with tickets, messages,
// a rule's runs, SLA clocks whose timers are armed on Temporal, and an action whose call is
// in flight. The offboarded tenant's keys stop working, its workflows end, and not one row
// with its id is left in any table; the other tenant's rows and workflows are as they
// were. It refuses to run without --confirm, and a second run says the tenant is gone.
func TestOffboardTenant(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	tc := e.temporal()
	startInProcessWorker(t, e, tc)
	rc := newHeldReceiver(t, "/")
	quiet := slog.New(slog.DiscardHandler)
	runner := timers.NewRunner(tc, e.store, e.srv.actions, quiet, "default", e.cfg.TaskQueue)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go runner.Run(ctx)
	engine := &automations.Engine{Store: e.store, Log: quiet, Arm: runner.Arm,
		Start: func(ctx context.Context, act *domain.Action) { _ = e.srv.actions.Start(ctx, act) }}

	a, b := e.actionFixture(rc.URL), e.actionFixture(rc.URL)
	for _, f := range []actionFixture{a, b} {
		e.newSLAPolicy(f)
		e.newAutomation(f, map[string]any{"name": "tag new", "events": []string{"ticket.created"}, "condition": "true",
			"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{"seen"}}}})
		for i := range 3 {
			e.mustTicket(f.key, map[string]any{"subject": fmt.Sprintf("ticket %d", i), "initial_message": map[string]any{"content": "hello"}})
		}
		engine.Drain(ctx)
		e.postAction(f, referenceAction(), nil) // its call waits at the receiver
	}
	running := func(tenantID string) int64 {
		resp, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default",
			Query: fmt.Sprintf("TenantId = '%s' AND ExecutionStatus = 'Running'", tenantID)})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetCount()
	}
	rc.waitHeld(t, 2)
	for _, f := range []actionFixture{a, b} { // its action's and its SLA timers' workflows
		timerRows, err := e.store.DB().NewSelect().Table("ticket_timers").Where("tenant_id = ?", f.tenant).Count(ctx)
		if err != nil || timerRows < 3 {
			t.Fatalf("tenant %s has %d timers (%v)", f.tenant, timerRows, err)
		}
		for deadline := time.Now().Add(20 * time.Second); running(f.tenant) != int64(timerRows)+1; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("tenant %s has %d running workflows, not %d", f.tenant, running(f.tenant), timerRows+1)
			}
		}
	}
	rowsA, err := e.store.TenantRowCount(ctx, a.tenant)
	if err != nil || rowsA < 30 {
		t.Fatalf("tenant a has %d rows (%v)", rowsA, err)
	}
	rowsB, _ := e.store.TenantRowCount(ctx, b.tenant)
	detailB, runningB := e.tenantRows(b.tenant), running(b.tenant)

	env := map[string]string{"DATABASE_URL": dsn, "TEMPORAL_ADDRESS": ts.Addr, "TEMPORAL_NAMESPACE": "default", "LOG_LEVEL": "error"}
	if _, err := runCLI(t, env, "tenant", "offboard", a.tenant); !errors.Is(err, errUsage) {
		t.Fatalf("without --confirm: %v", err)
	}
	if _, err := runCLI(t, env, "tenant", "offboard", a.tenant, "--confirm", b.tenant); !errors.Is(err, errUsage) {
		t.Fatalf("with another tenant's id in --confirm: %v", err)
	}
	if n, _ := e.store.TenantRowCount(ctx, a.tenant); n != rowsA {
		t.Fatalf("a refused offboarding changed %d rows", rowsA-n)
	}
	out, err := runCLI(t, env, "tenant", "offboard", a.tenant, "--confirm", a.tenant)
	if err != nil {
		t.Fatalf("offboard: %v", err)
	}
	var report struct {
		KeysRevoked       int              `json:"keys_revoked"`
		WorkflowsCanceled int64            `json:"workflows_canceled"`
		StillRunning      int64            `json:"workflows_still_running"`
		Rows              map[string]int64 `json:"rows_deleted"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var total int64
	for _, n := range report.Rows {
		total += n
	}
	// Its actions ran on Temporal, so it had a data key; it goes last (crypto-shredding).
	if report.KeysRevoked < 1 || report.WorkflowsCanceled < 3 || report.StillRunning != 0 || report.Rows["tickets"] != 4 ||
		report.Rows["tenant_data_keys"] != 1 || total != rowsA {
		t.Errorf("report: %s (the tenant had %d rows)", out, rowsA)
	}
	if n, err := e.store.TenantRowCount(ctx, a.tenant); err != nil || n != 0 {
		t.Errorf("%d rows of the offboarded tenant are left (%v)", n, err)
	}
	if n := running(a.tenant); n != 0 {
		t.Errorf("%d workflows of the offboarded tenant still run", n)
	}
	if n, _ := e.store.TenantRowCount(ctx, b.tenant); n != rowsB || e.tenantRows(b.tenant) != detailB {
		t.Errorf("the other tenant's rows changed: %d -> %d, %s -> %s", rowsB, n, detailB, e.tenantRows(b.tenant))
	}
	if n := running(b.tenant); n != runningB {
		t.Errorf("the other tenant's running workflows went from %d to %d", runningB, n)
	}
	wantError(t, e.do(req{method: "GET", path: "/api/v1/public/tickets", key: a.key}), http.StatusUnauthorized, "authentication_error", "")
	if resp := e.do(req{method: "GET", path: "/api/v1/public/tickets", key: b.key}); resp.Status != http.StatusOK {
		t.Errorf("the other tenant's key: %d %s", resp.Status, resp.Body)
	}
	if _, err := runCLI(t, env, "tenant", "offboard", a.tenant, "--confirm", a.tenant); err == nil || !strings.Contains(err.Error(), "No tenant") {
		t.Errorf("a second run: %v", err)
	}
}
