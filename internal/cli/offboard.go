package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/gateway"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/store"
	"go.temporal.io/sdk/client"
)

// offboardTicketBatch is how many tickets one transaction of an offboarding deletes, with
// every row about them: short enough that the other tenants' writes never wait long.
const offboardTicketBatch = 200

// offboardWait bounds how long offboarding waits for the tenant's workflows to end after
// asking Temporal to cancel them.
const offboardWait = time.Minute

// tenantOffboard is `api tenant offboard TENANT_ID --confirm TENANT_ID`: the tenant's keys
// are revoked first (no request of its is served after that), its automations disabled and
// SLA policies removed (the workers start nothing new for it), its running workflows
// canceled on Temporal, then every row of it deleted in short batches, and its workflows
// canceled once more for any started meanwhile (those that do not end are terminated), and
// last its data keys deleted, so its payloads left in Temporal's histories can no longer be
// read (internal/sealing). Each step is idempotent: a run that stops
// is finished by running the command again.
func tenantOffboard(ctx context.Context, cfg config.Config, args []string, stdout io.Writer, log *slog.Logger) error {
	id, err := offboardTarget(args)
	if err != nil {
		return err
	}
	// Without the driver's 10 s bound: after the tickets, the last look for the tenant's
	// rows in a table without a tenant index (runs, attempt logs) reads all of it once.
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 2, LongStatements: true})
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := st.RevokeAllKeys(ctx, id)
	if err != nil {
		return err
	}
	stopped, err := st.StopTenantWork(ctx, id)
	if err != nil {
		return err
	}
	tc, err := gateway.Dial(cfg.TemporalAddress, cfg.TemporalNamespace, log, nil, nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	canceled, left, err := actions.CancelTenantWorkflows(ctx, tc, cfg.TemporalNamespace, id, offboardWait)
	if err != nil {
		return fmt.Errorf("canceling the tenant's workflows (nothing was deleted; its keys are revoked; run the command again): %w", err)
	}
	log.Info("offboarding: workflows canceled", "tenant_id", id, "canceled", canceled, "still_running", left)
	tickets, err := st.DeleteTenantTickets(ctx, id, offboardTicketBatch, func(d store.DeletedTicket) {
		log.Debug("offboarding: tickets deleted", "tenant_id", id, "tickets", d.Tickets())
	})
	if err != nil {
		return fmt.Errorf("deleting the tenant's tickets (run the command again to go on): %w", err)
	}
	rows, err := st.DeleteTenantRows(ctx, id)
	if err != nil {
		return fmt.Errorf("deleting the tenant's rows (run the command again to go on): %w", err)
	}
	late, terminated, shredded, err := endTenantWorkflows(ctx, st, tc, cfg.TemporalNamespace, id)
	if err != nil {
		return err
	}
	if shredded > 0 {
		rows["tenant_data_keys"] = shredded
	}
	for table, n := range stopped {
		rows[table] += n
	}
	tickets.AddTo(rows)
	return printJSON(stdout, map[string]any{
		"tenant_id": id, "keys_revoked": keys, "workflows_canceled": canceled + late, "workflows_terminated": terminated, "workflows_still_running": 0,
		"rows_deleted": rows,
	})
}

// offboardTarget is the tenant `tenant offboard` was given, twice (--confirm).
func offboardTarget(args []string) (string, error) {
	if len(args) == 0 || !domain.ValidID(domain.PrefixTenant, args[0]) {
		return "", usageErr("expected `tenant offboard TENANT_ID --confirm TENANT_ID`")
	}
	id := args[0]
	fs := flag.NewFlagSet("tenant offboard", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	confirm := fs.String("confirm", "", "the tenant's id again")
	if err := fs.Parse(args[1:]); err != nil {
		return "", usageErr("%v", err)
	}
	if *confirm != id {
		return "", usageErr("offboarding deletes every row of tenant %s for good: give its id again in --confirm", id)
	}
	return id, nil
}

// endTenantWorkflows is offboarding's last step, once the tenant's rows are gone: it
// cancels any workflow of the tenant started meanwhile, terminates those that do not end
// when asked, and then deletes the tenant's data keys (crypto-shredding), which a running
// workflow would need to read its own history. It returns how many workflows it canceled
// and terminated, and how many keys it deleted.
func endTenantWorkflows(ctx context.Context, st *store.Store, tc client.Client, namespace, id string) (canceled, terminated, shredded int64, err error) {
	canceled, left, err := actions.CancelTenantWorkflows(ctx, tc, namespace, id, offboardWait)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("canceling the tenant's workflows started meanwhile (its rows are deleted; they end finding nothing): %w", err)
	}
	if left > 0 {
		if terminated, left, err = actions.TerminateTenantWorkflows(ctx, tc, namespace, id, offboardWait); err == nil && left > 0 {
			err = fmt.Errorf("%d are still running", left)
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("terminating the tenant's workflows that did not end (its data keys are kept; run the command again): %w", err)
		}
	}
	if shredded, err = st.ShredDataKeys(ctx, id); err != nil {
		return 0, 0, 0, fmt.Errorf("deleting the tenant's data keys (run the command again): %w", err)
	}
	return canceled, terminated, shredded, nil
}

// tenantRotateDataKey is `api tenant rotate-data-key TENANT_ID`: the tenant's new Temporal
// payloads are sealed with a new data key (every process within a minute); the retired key
// stays, to open the histories it sealed.
func tenantRotateDataKey(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || !domain.ValidID(domain.PrefixTenant, args[0]) {
		return usageErr("expected `tenant rotate-data-key TENANT_ID`")
	}
	box, err := cfg.Box()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.GetTenant(ctx, args[0]); err != nil {
		return err
	}
	keys, err := sealing.NewKeyring(st, box)
	if err != nil {
		return err
	}
	id, err := keys.Rotate(ctx, args[0])
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"tenant_id": args[0], "data_key_id": id})
}
