package simulate

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
	"github.com/threada/threada/internal/store"
)

// CheckCondition compiles a condition given in a request, and refuses one that folds to
// the constant false (false, !true, 1 == 2, x && false, ...; expr's optimizer works it out
// when compiling): a rule that can never run is a mistake, and `enabled: false` says
// "off". Errors are EINVALID naming condition.
func CheckCondition(condition string) error {
	prog, err := rules.CompileCondition("condition", condition)
	if err != nil {
		return err
	}
	if b, ok := prog.Node().(*ast.BoolNode); ok && !b.Value {
		return domain.Invalidf("condition", "`condition` is always false, so the automation could never run; use `enabled: false` to turn it off.")
	}
	return nil
}

// CheckRule compiles a whole rule (condition and templates) and checks its custom_http
// actions against the tenant's settings with a sample ticket, so that a rule that can
// never run is refused when it is saved. Errors are EINVALID naming the field.
func CheckRule(ctx context.Context, db *store.Conn, tenantID string, r domain.Rule) error {
	_, _, err := checkedRule(ctx, db, tenantID, r)
	return err
}

// checkedRule is CheckRule that also returns the compiled rule and the tenant.
func checkedRule(ctx context.Context, db *store.Conn, tenantID string, r domain.Rule) (*rules.Compiled, *domain.Tenant, error) {
	compiled, err := rules.Compile(r)
	if err != nil {
		return nil, nil, err
	}
	tenant, err := db.GetTenant(ctx, tenantID)
	if err != nil {
		return nil, nil, err
	}
	return compiled, tenant, checkSample(compiled, tenant)
}

// sampleTicket is the ticket a rule's actions are rendered for at save.
func sampleTicket(tenantID string) *domain.TicketEvent {
	return &domain.TicketEvent{Type: domain.EventTicketUpdated, Ticket: domain.Ticket{
		ID: "tkt_sample", TenantID: tenantID, Subject: "sample", Status: domain.StatusOpen,
		Priority: domain.PriorityNormal, Channel: domain.ChannelAPI, Tags: []string{},
	}, Changes: map[string]domain.FieldChange{}}
}

// checkSample renders the actions for the sample ticket and checks each custom_http
// request against the tenant's settings.
func checkSample(compiled *rules.Compiled, tenant *domain.Tenant) error {
	for i, r := range compiled.Sample(rules.NewEnv(sampleTicket(tenant.ID))) {
		if r.Spec.Type != domain.AutomationCustomHTTP || r.Err != nil {
			continue // a runtime error depends on the event; the run will record it
		}
		if _, err := r.HTTP.Validate(tenant.ActionSettings()); err != nil {
			var de *domain.Error
			if errors.As(err, &de) {
				param := "actions[" + strconv.Itoa(i) + "]." + strings.TrimPrefix(de.Param, "payload.")
				return domain.Invalidf(param, "`%s`: %s", param, de.Message)
			}
			return err
		}
	}
	return nil
}
