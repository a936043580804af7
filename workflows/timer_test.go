package workflows_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/workflows"
)

// delayFixture is a tenant, a ticket and a delay automation on a real database.
func delayFixture(t *testing.T, delay time.Duration, rearm bool) (*store.Store, *domain.Automation, string) {
	t.Helper()
	ctx := context.Background()
	st := dbtest.New(t)
	tenant := &domain.Tenant{ID: domain.NewID(domain.PrefixTenant), Name: "Acme"}
	if err := st.CreateTenant(ctx, tenant, nil); err != nil {
		t.Fatal(err)
	}
	ticket, err := st.CreateTicket(ctx, tenant.ID, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	name, cond, events := "Nudge", `ticket.status == "open"`, []string{domain.EventTicketUpdated}
	acts := []domain.AutomationAction{{Type: domain.AutomationAddNote, Content: "still open"}}
	a, err := st.CreateAutomation(ctx, tenant.ID, domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &acts, Delay: &delay, Rearm: &rearm})
	if err != nil {
		t.Fatal(err)
	}
	return st, a, ticket.Ticket.ID
}

func updatedEvent(a *domain.Automation, ticketID string, at time.Time) *domain.TicketEvent {
	return &domain.TicketEvent{ID: domain.NewID(domain.PrefixEvent), TenantID: a.TenantID, TicketID: ticketID, Type: domain.EventTicketUpdated,
		Origin: domain.Origin{Actor: "api_key:key_1", Depth: 1}, OccurredAt: at}
}

// TestTimerFiresAtTheLatestArm runs the timer workflow in Temporal's time-skipping test
// environment on a real database: armed for 48 h, re-armed an hour later by a newer
// event, it fires exactly 48 h after that event, once, with that event.
func TestTimerFiresAtTheLatestArm(t *testing.T) {
	ctx := context.Background()
	st, a, ticketID := delayFixture(t, 48*time.Hour, true)
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	first, err := st.ArmDelay(ctx, a, updatedEvent(a, ticketID, t0))
	if err != nil || first == nil {
		t.Fatal(first, err)
	}

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflowWithOptions(workflows.TicketTimer, workflow.RegisterOptions{Name: contract.TimerWorkflowName})
	env.RegisterActivity(&activities.Activities{Store: st})
	second := updatedEvent(a, ticketID, t0.Add(time.Hour))
	env.RegisterDelayedCallback(func() {
		rearmed, err := st.ArmDelay(ctx, a, second)
		if err != nil || rearmed == nil || rearmed.Generation <= first.Generation {
			t.Errorf("re-arm: %+v %v", rearmed, err)
			return
		}
		env.SignalWorkflow(contract.SignalArm, contract.Arm{Generation: rearmed.Generation, DueAt: rearmed.DueAt})
		// A late duplicate of the first arm changes nothing.
		env.SignalWorkflow(contract.SignalArm, contract.Arm{Generation: first.Generation, DueAt: first.DueAt})
	}, time.Hour)
	var fires []time.Time
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		fires = append(fires, env.Now())
	})
	env.ExecuteWorkflow(contract.TimerWorkflowName, contract.TimerInput{TimerID: first.ID, Generation: first.Generation, DueAt: first.DueAt})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if want := second.OccurredAt.Add(48 * time.Hour); len(fires) != 1 || !fires[0].Equal(want) {
		t.Fatalf("fired at %v, want once at %v", fires, want)
	}

	var n int
	var armedID string
	if err := st.DB().QueryRowContext(ctx, `SELECT count(*), max(payload->'armed'->>'id') FROM ticket_events WHERE type = 'automation.delay_elapsed' AND ticket_id = ?`, ticketID).Scan(&n, &armedID); err != nil {
		t.Fatal(err)
	}
	if n != 1 || armedID != second.ID {
		t.Errorf("%d delay_elapsed events, armed by %s; want 1, by %s", n, armedID, second.ID)
	}
	if left, _, err := st.ListTimers(ctx, a.TenantID, a.ID, nil, 10); err != nil || len(left) != 0 {
		t.Errorf("timers left after firing: %v %v", left, err)
	}
}

// TestTimerArming: re-arming moves the due time to the newer event and bumps the
// generation; without rearm the first event's timer stays; a stale generation never fires;
// disabling the automation disarms its timers in the same statement.
func TestTimerArming(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second)

	st, a, ticketID := delayFixture(t, time.Hour, false)
	first, err := st.ArmDelay(ctx, a, updatedEvent(a, ticketID, t0))
	if err != nil || first == nil {
		t.Fatal(first, err)
	}
	if again, err := st.ArmDelay(ctx, a, updatedEvent(a, ticketID, t0.Add(time.Minute))); err != nil || again != nil {
		t.Fatalf("rearm false re-armed: %+v %v", again, err)
	}
	listed, _, err := st.ListTimers(ctx, a.TenantID, a.ID, nil, 10)
	if err != nil || len(listed) != 1 || !listed[0].DueAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("listed %+v %v", listed, err)
	}

	st2, b, ticket2 := delayFixture(t, time.Hour, true)
	g1, _ := st2.ArmDelay(ctx, b, updatedEvent(b, ticket2, t0))
	g2, err := st2.ArmDelay(ctx, b, updatedEvent(b, ticket2, t0.Add(time.Minute)))
	if err != nil || g2 == nil || g2.Generation <= g1.Generation || !g2.DueAt.Equal(t0.Add(time.Minute+time.Hour)) {
		t.Fatalf("re-armed %+v %v", g2, err)
	}
	if fired, _, err := st2.FireTimer(ctx, g1.ID, g1.Generation); err != nil || fired {
		t.Fatalf("a stale generation fired: %v %v", fired, err)
	}
	off := false
	if _, err := st2.UpdateAutomation(ctx, b.TenantID, b.ID, domain.AutomationInput{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if left, _, err := st2.ListTimers(ctx, b.TenantID, b.ID, nil, 10); err != nil || len(left) != 0 {
		t.Fatalf("a disabled automation keeps timers: %+v %v", left, err)
	}
	if fired, _, err := st2.FireTimer(ctx, g2.ID, g2.Generation); err != nil || fired {
		t.Fatalf("a disarmed timer fired: %v %v", fired, err)
	}
}
