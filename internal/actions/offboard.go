package actions

import (
	"context"
	"fmt"
	"time"

	batchpb "go.temporal.io/api/batch/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/gateway"
)

// CancelTenantWorkflows cancels every running workflow of the tenant (its actions, bulk
// replays and timers, all tagged with TenantId) through one Temporal batch operation, then
// waits up to wait for none to be running. A canceled action records itself canceled, or
// finds its row gone and ends; a canceled timer ends. It returns how many were running
// when it started and how many still are.
func CancelTenantWorkflows(ctx context.Context, c client.Client, namespace, tenantID string, wait time.Duration) (canceled, left int64, err error) {
	return tenantBatch(ctx, c, namespace, tenantID, wait, &workflowservice.StartBatchOperationRequest{
		Reason: "tenant " + tenantID + " offboarded",
		Operation: &workflowservice.StartBatchOperationRequest_CancellationOperation{
			CancellationOperation: &batchpb.BatchOperationCancellation{Identity: "threada offboarding"},
		},
	})
}

// TerminateTenantWorkflows terminates the tenant's workflows still running (those a
// cancellation did not end) through one batch operation, and waits up to wait for them
// to be closed. It returns how many there were and how many still run.
func TerminateTenantWorkflows(ctx context.Context, c client.Client, namespace, tenantID string, wait time.Duration) (terminated, left int64, err error) {
	return tenantBatch(ctx, c, namespace, tenantID, wait, &workflowservice.StartBatchOperationRequest{
		Reason: "tenant " + tenantID + " offboarded: its data keys are deleted next",
		Operation: &workflowservice.StartBatchOperationRequest_TerminationOperation{
			TerminationOperation: &batchpb.BatchOperationTermination{Identity: "threada offboarding"},
		},
	})
}

// tenantBatch runs the batch operation req (its Reason and Operation set) over the
// tenant's running workflows, if there are any, and waits up to wait for none to be running.
func tenantBatch(ctx context.Context, c client.Client, namespace, tenantID string, wait time.Duration,
	req *workflowservice.StartBatchOperationRequest) (n, left int64, err error) {
	if !domain.ValidID(domain.PrefixTenant, tenantID) {
		return 0, 0, fmt.Errorf("%q is not a tenant id", tenantID)
	}
	query := fmt.Sprintf("TenantId = '%s' AND ExecutionStatus = 'Running'", tenantID)
	count := func() (int64, error) {
		ctx, cancel := context.WithTimeout(ctx, gateway.CallTimeout)
		defer cancel()
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return 0, err
		}
		return resp.GetCount(), nil
	}
	if n, err = count(); err != nil || n == 0 {
		return n, 0, err
	}
	callCtx, cancel := context.WithTimeout(ctx, gateway.CallTimeout)
	defer cancel()
	req.Namespace, req.VisibilityQuery, req.JobId = namespace, query, domain.NewID("batch")
	if _, err := c.WorkflowService().StartBatchOperation(callCtx, req); err != nil {
		return n, n, err
	}
	for deadline := time.Now().Add(wait); ; {
		if left, err = count(); err != nil || left == 0 || time.Now().After(deadline) {
			return n, left, err
		}
		select {
		case <-ctx.Done():
			return n, left, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
