package sealing

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/internal/domain"
)

type tenantKey struct{}

// HeaderTenant is the Temporal header that carries a workflow's tenant to its activities.
const HeaderTenant = "threada-tenant"

// WithTenant returns ctx for Temporal calls made for tenantID: the payloads of the
// workflows it starts and signals it sends are sealed with the tenant's key.
func WithTenant(ctx context.Context, tenantID string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenantID)
}

// TenantOf returns the tenant WithTenant put in ctx, or "".
func TenantOf(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

func tenantOfWorkflow(ctx converter.WorkflowContext) string {
	if ctx == nil {
		return ""
	}
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// codec is the Temporal payload codec of one tenant ("" for the platform key).
type codec struct {
	k      *Keyring
	tenant string
}

func (c codec) Encode(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return c.k.seal(c.tenant, p)
}
func (c codec) Decode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return c.k.open(p) }

// dataConverter is the SDK's default converter followed by the codec, choosing the tenant's
// key from the context the SDK converts in.
type dataConverter struct {
	converter.DataConverter
	k *Keyring
}

// DataConverter returns the data converter for Temporal clients and workers (client.Options).
func (k *Keyring) DataConverter() converter.DataConverter { return k.forTenant("") }

func (k *Keyring) forTenant(tenantID string) *dataConverter {
	return &dataConverter{DataConverter: converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec{k, tenantID}), k: k}
}

func (d *dataConverter) WithContext(ctx context.Context) converter.DataConverter {
	if t := TenantOf(ctx); t != "" {
		return d.k.forTenant(t)
	}
	return d
}

func (d *dataConverter) WithWorkflowContext(ctx converter.WorkflowContext) converter.DataConverter {
	if t := tenantOfWorkflow(ctx); t != "" {
		return d.k.forTenant(t)
	}
	return d
}

// Propagator carries the tenant of WithTenant from a client's call into the workflow's
// context, and from the workflow into its activities' (client.Options.ContextPropagators).
// The header holds the tenant id only, which the workflow's search attributes show anyway.
type Propagator struct{}

var plain = converter.GetDefaultDataConverter()

func (Propagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	return inject(TenantOf(ctx), w)
}

func (Propagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	return inject(tenantOfWorkflow(ctx), w)
}

func inject(tenantID string, w workflow.HeaderWriter) error {
	if tenantID == "" {
		return nil
	}
	p, err := plain.ToPayload(tenantID)
	if err != nil {
		return err
	}
	w.Set(HeaderTenant, p)
	return nil
}

func (Propagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	if t := extract(r); t != "" {
		return WithTenant(ctx, t), nil
	}
	return ctx, nil
}

func (Propagator) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	if t := extract(r); t != "" {
		return workflow.WithValue(ctx, tenantKey{}, t), nil
	}
	return ctx, nil
}

// extract reads the header's tenant; a header that is not a tenant id is ignored (the
// payloads then go under the platform key).
func extract(r workflow.HeaderReader) string {
	p, ok := r.Get(HeaderTenant)
	if !ok {
		return ""
	}
	var t string
	if plain.FromPayload(p, &t) != nil || !domain.ValidID(domain.PrefixTenant, t) {
		return ""
	}
	return t
}

// ClientOptions returns o with the keyring's data converter and the tenant's propagator:
// what a Temporal client (and the workers made on it) needs to seal and open payloads.
// A nil keyring leaves o as it is.
func (k *Keyring) ClientOptions(o client.Options) client.Options {
	if k == nil {
		return o
	}
	o.DataConverter = k.DataConverter()
	o.ContextPropagators = append(o.ContextPropagators, Propagator{})
	return o
}
