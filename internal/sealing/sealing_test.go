package sealing_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/secretbox"
)

func newKeyring(t *testing.T) (*sealing.Keyring, func() *sealing.Keyring, func() string) {
	t.Helper()
	st := dbtest.New(t)
	newTenant := func() string {
		id := domain.NewID(domain.PrefixTenant)
		if _, err := st.DB().ExecContext(context.Background(), "INSERT INTO tenants (id, name, created_at) VALUES (?, 't', now())", id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	// another process: the same database and SECRETS_KEY, its own cache
	another := func() *sealing.Keyring {
		k, err := sealing.NewKeyring(st, box)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	return another(), another, newTenant
}

func TestSealAndOpen(t *testing.T) {
	k, another, newTenant := newKeyring(t)
	ctx := context.Background()
	a, b := newTenant(), newTenant()
	dcA := k.DataConverter().(converter.ContextAware).WithContext(sealing.WithTenant(ctx, a))
	dcB := k.DataConverter().(converter.ContextAware).WithContext(sealing.WithTenant(ctx, b))
	secret := map[string]string{"email": "ada@example.com"}

	pa, err := dcA.ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := dcB.ToPayload(secret)
	pn, _ := k.DataConverter().ToPayload(secret) // no tenant: the platform key
	for name, p := range map[string]*commonpb.Payload{"a": pa, "b": pb, "none": pn} {
		if bytes.Contains(p.Data, []byte("ada@example.com")) || string(p.Metadata[converter.MetadataEncoding]) != sealing.Encoding {
			t.Errorf("%s: not sealed: %v", name, p)
		}
	}
	if id := string(pn.Metadata[sealing.MetadataKeyID]); id != sealing.PlatformKeyID {
		t.Errorf("without a tenant the key is %q", id)
	}
	if string(pa.Metadata[sealing.MetadataKeyID]) == string(pb.Metadata[sealing.MetadataKeyID]) {
		t.Error("two tenants share a data key")
	}

	// Any process with the database and SECRETS_KEY opens any of them, with any converter.
	other := another()
	for name, p := range map[string]*commonpb.Payload{"a": pa, "b": pb, "none": pn} {
		var got map[string]string
		if err := other.DataConverter().FromPayload(p, &got); err != nil || got["email"] != "ada@example.com" {
			t.Errorf("%s: opened %v (%v)", name, got, err)
		}
	}
	// A payload that was never sealed (a history from before sealing) reads as it is.
	plain, _ := converter.GetDefaultDataConverter().ToPayload(secret)
	var got map[string]string
	if err := k.DataConverter().FromPayload(plain, &got); err != nil || got["email"] != "ada@example.com" {
		t.Errorf("plain payload: %v %v", got, err)
	}

	// Tampering: a sealed payload relabelled with the other tenant's key, or altered, does not open.
	swapped := &commonpb.Payload{Metadata: map[string][]byte{}, Data: pa.Data}
	for key, v := range pb.Metadata {
		swapped.Metadata[key] = v
	}
	altered := &commonpb.Payload{Metadata: pa.Metadata, Data: append(append([]byte(nil), pa.Data[:len(pa.Data)-1]...), pa.Data[len(pa.Data)-1]^1)}
	for name, p := range map[string]*commonpb.Payload{"relabelled": swapped, "altered": altered} {
		if err := other.DataConverter().FromPayload(p, &got); err == nil {
			t.Errorf("%s payload opened", name)
		}
	}

	// Shredding a: its payloads are gone for every process (after their cache), b's are not.
	if n, err := k.Shred(ctx, a); err != nil || n != 1 {
		t.Fatalf("shred: %d %v", n, err)
	}
	if err := another().DataConverter().FromPayload(pa, &got); !errors.Is(err, sealing.ErrKeyGone) {
		t.Errorf("a shredded payload: %v", err)
	}
	out, err := k.OpenReadable([]*commonpb.Payload{pa, pb})
	if err != nil || out[0] != pa || bytes.Contains(out[0].Data, []byte("ada@")) || !bytes.Contains(out[1].Data, []byte("ada@example.com")) {
		t.Errorf("OpenReadable after shredding a: %v %v", out, err)
	}
	// A tenant whose keys were shredded and that gets work again gets a new key; a tenant
	// that does not exist (offboarded) gets none.
	pa2, err := dcA.ToPayload(secret)
	if err != nil || string(pa2.Metadata[sealing.MetadataKeyID]) == string(pa.Metadata[sealing.MetadataKeyID]) {
		t.Errorf("after shredding: %v %v", pa2, err)
	}
	gone := k.DataConverter().(converter.ContextAware).WithContext(sealing.WithTenant(ctx, domain.NewID(domain.PrefixTenant)))
	if _, err := gone.ToPayload(secret); err == nil {
		t.Error("a tenant that does not exist got a data key")
	}
}

// TestFirstKeyOnce: processes sealing a tenant's first payloads at once agree on one key.
func TestFirstKeyOnce(t *testing.T) {
	_, another, newTenant := newKeyring(t)
	tenant := newTenant()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			dc := another().DataConverter().(converter.ContextAware).WithContext(sealing.WithTenant(context.Background(), tenant))
			p, err := dc.ToPayload("x")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = string(p.Metadata[sealing.MetadataKeyID])
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("keys %v: want one", ids)
		}
	}
}

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
