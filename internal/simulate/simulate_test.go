package simulate

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// TestAgainstTheStore: the dry run, backtest, preview and check read what they name from
// the tenant's own data, and nothing else; they write nothing.
func TestAgainstTheStore(t *testing.T) {
	st := dbtest.New(t)
	ctx := domain.WithOrigin(context.Background(), domain.Origin{Actor: "api_key:key_1"})
	tenant := func() string {
		tn := &domain.Tenant{Name: "Acme", ActionsBaseURL: "https://hooks.example.com"}
		if err := st.CreateTenant(ctx, tn, nil); err != nil {
			t.Fatal(err)
		}
		return tn.ID
	}
	ticket := func(tenantID, priority string) string {
		in := domain.TicketCreate{Subject: "Order 42 is late", Priority: priority}
		if err := in.Normalize(); err != nil {
			t.Fatal(err)
		}
		d, err := st.CreateTicket(ctx, tenantID, in)
		if err != nil {
			t.Fatal(err)
		}
		return d.Ticket.ID
	}
	a, b := tenant(), tenant()
	urgent, _, theirs := ticket(a, "urgent"), ticket(a, "low"), ticket(b, "urgent")
	name, cond, events := "page", `ticket.priority == "urgent"`, []string{domain.EventTicketCreated}
	actions := []domain.AutomationAction{{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "/hooks/{{ ticket.ticket_id }}"}}
	ain := domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &actions}
	if err := ain.CheckStatic(true); err != nil {
		t.Fatal(err)
	}
	auto, err := st.CreateAutomation(ctx, a, ain)
	if err != nil {
		t.Fatal(err)
	}
	counts := func() int64 {
		var n int64
		err := st.DB().NewRaw("SELECT (SELECT count(*) FROM tickets) + (SELECT count(*) FROM ticket_events) + (SELECT count(*) FROM actions) + (SELECT count(*) FROM automation_runs)").Scan(ctx, &n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := counts()
	db := &st.Conn

	r, err := DryRun(ctx, db, a, "api_key:key_1", DryRunInput{AutomationID: &auto.ID, TicketID: &urgent})
	if err != nil || !r.Matched || len(r.Actions) != 1 || r.Actions[0].Request == nil || r.Actions[0].Request.URL != "https://hooks.example.com/hooks/"+urgent {
		t.Errorf("dry run of a saved automation on a stored ticket: %+v %v", r, err)
	}
	for _, tc := range []struct {
		name string
		in   DryRunInput
		code string
	}{
		{"neither condition nor automation", DryRunInput{TicketID: &urgent}, domain.EINVALID},
		{"both condition and automation", DryRunInput{Condition: ptr("true"), AutomationID: &auto.ID, TicketID: &urgent}, domain.EINVALID},
		{"no ticket", DryRunInput{Condition: ptr("true")}, domain.EINVALID},
		{"another tenant's ticket", DryRunInput{Condition: ptr("true"), TicketID: &theirs}, domain.ENOTFOUND},
		{"an automation that is not", DryRunInput{AutomationID: ptr("aut_06h2s4fdwd4rcfq5dyr5hb9qm0"), TicketID: &urgent}, domain.ENOTFOUND},
		{"actions with a saved automation", DryRunInput{AutomationID: &auto.ID, Actions: &actions, TicketID: &urgent}, domain.EINVALID},
		{"a draft that does not compile", DryRunInput{Condition: ptr("ticket.nope"), TicketID: &urgent}, domain.EINVALID},
	} {
		if _, err := DryRun(ctx, db, a, "api_key:key_1", tc.in); domain.ErrorCode(err) != tc.code {
			t.Errorf("dry run, %s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if _, err := DryRun(ctx, db, b, "api_key:key_2", DryRunInput{AutomationID: &auto.ID, TicketID: &theirs}); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("another tenant's automation: %v", err)
	}

	bt, err := Backtest(ctx, db, a, BacktestInput{Condition: &cond, Events: &events, Actions: &actions})
	if err != nil || bt.Evaluated != 2 || bt.Matched != 1 || !bt.Complete || len(bt.Samples) != 1 || bt.Samples[0].TicketID != urgent {
		t.Errorf("backtest: %+v %v", bt, err)
	}
	elsewhere := []domain.AutomationAction{{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "https://evil.example.net/x"}}
	for _, in := range []BacktestInput{
		{Condition: &cond, Events: &events, Actions: &actions, Days: ptr(31)},
		{Condition: &cond, Actions: &actions},
		{Condition: &cond, Events: &events, Actions: &elsewhere},
	} {
		if _, err := Backtest(ctx, db, a, in); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("backtest of a bad draft: %v", err)
		}
	}

	p, err := PreviewSLA(ctx, db, a, `ticket.priority == "urgent"`, map[string]domain.SLATarget{"urgent": {FirstReply: time.Hour}})
	if err != nil || p.Evaluated != 2 || p.Matched != 1 || !p.Complete || len(p.Samples) != 1 || p.Samples[0].Ticket.ID != urgent || p.Samples[0].Target == nil {
		t.Errorf("preview: %+v %v", p, err)
	}

	if err := CheckRule(ctx, db, a, domain.Rule{Condition: "true", Actions: elsewhere}); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("check of a host not allowed: %v", err)
	}
	if err := CheckRule(ctx, db, a, domain.Rule{Condition: "true", Actions: actions}); err != nil {
		t.Errorf("check: %v", err)
	}
	if after := counts(); after != before {
		t.Errorf("rows %d -> %d", before, after)
	}
}
