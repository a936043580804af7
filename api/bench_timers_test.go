package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/automations"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/internal/timers"
)

// timerBench is a tenant with tickets, a worker for the workflows, and an automations
// engine that arms timers through a timers.Runner, on the dev server.
type timerBench struct {
	t      *testing.T
	e      *testEnv
	runner *timers.Runner
	engine *automations.Engine
	tenant string
	key    string
	recv   string
}

func newTimerBench(t *testing.T, ts *temporaltest.Server) *timerBench {
	e := newEnvWithTemporal(t, ts.Addr)
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	e.srv.log = quiet
	e.srv.actions = actions.NewRunner(e.srv.actions.Client(), e.store, quiet, e.cfg)
	e.app = e.srv.app()
	tc := e.temporal()
	t.Cleanup(startBenchWorker(t, e, tc))
	b := &timerBench{t: t, e: e, runner: timers.NewRunner(tc, e.store, e.srv.actions, quiet, "default", e.cfg.TaskQueue)}
	b.engine = &automations.Engine{Store: e.store, Log: quiet, Arm: b.runner.Arm, Start: func(ctx context.Context, a *domain.Action) { _ = e.srv.actions.Start(ctx, a) }}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go b.runner.Run(ctx)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	}()
	t.Cleanup(func() { ln.Close() })
	b.recv = "http://" + ln.Addr().String()
	b.tenant = e.newTenantWith(domain.Tenant{Name: "Acme", ActionsBaseURL: b.recv})
	b.key = e.newKey(b.tenant, domain.AllScopes...)
	return b
}

// automation stores a rule on ticket.updated; delay 0 makes it evaluate at once.
func (b *timerBench) automation(cond string, delay time.Duration) {
	b.t.Helper()
	name, events := "bench", []string{domain.EventTicketUpdated}
	acts := []domain.AutomationAction{{Type: domain.AutomationAddNote, Content: "late"}}
	in := domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &acts}
	if delay > 0 {
		in.Delay = &delay
	}
	if _, err := b.e.store.CreateAutomation(context.Background(), b.tenant, in); err != nil {
		b.t.Fatal(err)
	}
}

// updates writes one ticket.updated event on each of n new tickets, with no engine
// running, and drains them (the ticket.created events first, untimed).
func (b *timerBench) updates(n int) time.Duration {
	b.t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range ids {
		d, err := b.e.store.CreateTicket(ctx, b.tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
		if err != nil {
			b.t.Fatal(err)
		}
		ids[i] = d.Ticket.ID
	}
	b.engine.Drain(ctx)
	high := domain.PriorityHigh
	for _, id := range ids {
		if _, err := b.e.store.UpdateTicket(ctx, b.tenant, id, domain.TicketUpdate{Priority: &high}); err != nil {
			b.t.Fatal(err)
		}
	}
	start := time.Now()
	b.engine.Drain(ctx)
	return time.Since(start)
}

// synced waits until every armed timer reached Temporal and returns when it did.
func (b *timerBench) synced(within time.Duration) time.Time {
	deadline := time.Now().Add(within)
	for {
		var left int
		if err := b.e.store.DB().QueryRowContext(context.Background(), "SELECT count(*) FROM ticket_timers WHERE NOT synced").Scan(&left); err != nil {
			b.t.Fatal(err)
		}
		if left == 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%d timers not armed on Temporal after %v", left, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until the worker has run the first workflow task of every timer armed
// (the task queue's backlog is empty twice in a row), so that what follows measures
// timers waiting, not timers starting.
func (b *timerBench) settled(within time.Duration) {
	b.t.Helper()
	tc := b.e.srv.actions.Client()
	deadline := time.Now().Add(within)
	empty := 0
	for empty < 2 {
		if time.Now().After(deadline) {
			b.t.Fatalf("the workflow task queue still has a backlog after %v", within)
		}
		resp, err := tc.WorkflowService().DescribeTaskQueue(context.Background(), &workflowservice.DescribeTaskQueueRequest{
			Namespace: "default", TaskQueue: &taskqueuepb.TaskQueue{Name: b.e.cfg.TaskQueue}, TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW, ReportStats: true,
		})
		if err != nil {
			b.t.Fatal(err)
		}
		if resp.GetStats().GetApproximateBacklogCount() == 0 {
			empty++
		} else {
			empty = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// actionsPerSecond posts n actions through the API, 16 at a time, and waits for their runs.
func (b *timerBench) actionsPerSecond(n int) float64 {
	b.t.Helper()
	ticket := b.e.mustTicket(b.key, map[string]any{"subject": "bench"}).Ticket.Summary.TicketID
	tc := b.e.srv.actions.Client()
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 16 {
		wg.Go(func() {
			for range next {
				resp := b.e.do(req{method: "POST", path: "/api/v1/public/tickets/" + ticket + "/actions", key: b.key, body: referenceAction()})
				var env struct{ Action actionJSON }
				if resp.Status != http.StatusCreated || json.NewDecoder(bytes.NewReader(resp.Body)).Decode(&env) != nil {
					b.t.Errorf("create: %d %s", resp.Status, resp.Body)
					return
				}
				mu.Lock()
				ids = append(ids, env.Action.ActionID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if err := tc.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil); err != nil {
			b.t.Fatal(err)
		}
	}
	return float64(len(ids)) / time.Since(t0).Seconds()
}

// benchTimers: what arming a delay rule's timer costs per ticket event (the outbox's
// drain rate with a rule that arms, against one that only evaluates), and what 10,000
// armed timers waiting in Temporal do to action throughput.
func benchTimers(t *testing.T) {
	const events = 2000
	ts := temporaltest.Shared(t)

	evaluate := newTimerBench(t, ts)
	evaluate.automation(`ticket.subject == "never"`, 0)
	evalTime := evaluate.updates(events)

	rows := newTimerBench(t, ts)
	rows.engine.Arm = nil // the timer rows alone: nothing goes to Temporal
	rows.automation("true", 48*time.Hour)
	rowsTime := rows.updates(events)

	arm := newTimerBench(t, ts)
	arm.automation("true", 48*time.Hour)
	armTime := arm.updates(events)
	armStart := time.Now().Add(-armTime)
	syncedAt := arm.synced(2 * time.Minute)

	fmt.Printf("\nTimers: %d ticket.updated events drained by one engine, dev server\n\n", events)
	fmt.Println("| rule | outbox drain | events/s | timers on Temporal |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| evaluates, no match (no timer) | %v | %.0f | |\n", evalTime.Round(time.Millisecond), events/evalTime.Seconds())
	fmt.Printf("| delay 48h, timer rows only (Temporal left out) | %v | %.0f | |\n", rowsTime.Round(time.Millisecond), events/rowsTime.Seconds())
	fmt.Printf("| delay 48h (arms a timer each) | %v | %.0f | all %d armed %v after the first event, %.0f arms/s |\n",
		armTime.Round(time.Millisecond), events/armTime.Seconds(), events, syncedAt.Sub(armStart).Round(time.Millisecond), events/syncedAt.Sub(armStart).Seconds())
	fmt.Printf("\nArming per event: %.0f µs more than evaluating for the timer row in the event's transaction; %.0f µs more with the signal-with-starts to the dev server running meanwhile (16 at a time, after commit, on the same 2 cores)\n",
		(rowsTime.Seconds()-evalTime.Seconds())/events*1e6, (armTime.Seconds()-evalTime.Seconds())/events*1e6)

	const n, armed = 250, 10000
	load := newTimerBench(t, ts)
	before := []float64{load.actionsPerSecond(n), load.actionsPerSecond(n)}
	load.automation("true", 48*time.Hour)
	load.updates(armed)
	load.synced(5 * time.Minute)
	load.settled(5 * time.Minute)
	with := []float64{load.actionsPerSecond(n), load.actionsPerSecond(n)}
	fmt.Printf("\nActions through the API with %d timers armed and waiting in Temporal: %.1f actions/s (%s) against %.1f (%s) before: %.2fx\n",
		armed, mean(with), rates(with), mean(before), rates(before), mean(with)/mean(before))
}
