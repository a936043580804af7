// Package sealing keeps tenants' data out of Temporal in the clear (issue 22). Every
// payload Threada's processes hand to Temporal (workflow and activity inputs and results:
// action requests with their headers and bodies, receivers' responses, timer and replay
// inputs) is encrypted with AES-256-GCM by a Temporal payload codec, under a data key of
// the payload's tenant. Data keys are made on first use, stored wrapped by SECRETS_KEY
// (store.DataKey), rotatable, and deleting a tenant's keys makes what is left of its
// histories unreadable (crypto-shredding).
//
// The tenant travels with Temporal's own calls: WithTenant puts it in the context of a
// workflow start or signal, a context propagator carries it in the workflow's header and on
// to its activities, and the data converter reads it from whichever context the SDK
// converts in. A payload made without a tenant (a signal that names no tenant) is sealed
// under a platform key derived from SECRETS_KEY. Decoding needs no context: a sealed
// payload names its key. Payloads that are not sealed (histories from before sealing) are
// read as they are, so those workflows keep replaying.
package sealing

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/store"
)

const (
	// Encoding is the metadata encoding of a sealed payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID names, in a sealed payload's metadata, the key that sealed it.
	MetadataKeyID = "encryption-key-id"
	// PlatformKeyID is the key of payloads made without a tenant.
	PlatformKeyID = "platform-1"
	// PrefixDataKey begins a tenant data key's id.
	PrefixDataKey = "tdk"
)

// ErrKeyGone is the error for a payload sealed under a key that no longer exists: its
// tenant's keys were shredded.
var ErrKeyGone = errors.New("sealing: the payload's data key no longer exists (its tenant's keys were deleted)")

// keyTTL is how long a process keeps a key it read: a rotation reaches the other
// processes' new payloads, and a shredding their reads, within it.
const keyTTL = time.Minute

// maxCached bounds each key cache; past it, expired entries are swept.
const maxCached = 10_000

// Keyring seals and opens payloads with tenants' data keys.
type Keyring struct {
	store    *store.Store
	box      *secretbox.Box
	platform cipher.AEAD
	ttl      time.Duration

	mu     sync.Mutex
	active map[string]cachedKey // by tenant: the key new payloads use
	byID   map[string]cachedKey // by key id: keys that open payloads
}

type cachedKey struct {
	id     string
	tenant string
	aead   cipher.AEAD
	until  time.Time
}

// NewKeyring returns a Keyring over st's data keys, wrapped by box (SECRETS_KEY).
func NewKeyring(st *store.Store, box *secretbox.Box) (*Keyring, error) {
	if st == nil || box == nil {
		return nil, errors.New("sealing: a store and SECRETS_KEY are required")
	}
	platform, err := newAEAD(box.Derive("temporal-payloads/" + PlatformKeyID))
	if err != nil {
		return nil, err
	}
	return &Keyring{store: st, box: box, platform: platform, ttl: keyTTL,
		active: map[string]cachedKey{}, byID: map[string]cachedKey{}}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrapAAD binds a wrapped key to its tenant and id: a wrapped key copied to another row
// does not open.
func wrapAAD(tenantID, keyID string) string { return "tenant-data-key:" + tenantID + ":" + keyID }

func (k *Keyring) unwrap(dk store.DataKey) (cachedKey, error) {
	raw, err := k.box.Open(dk.Wrapped, wrapAAD(dk.TenantID, dk.ID))
	if err != nil {
		return cachedKey{}, fmt.Errorf("sealing: opening data key %s: %w", dk.ID, err)
	}
	aead, err := newAEAD([]byte(raw))
	if err != nil {
		return cachedKey{}, err
	}
	return cachedKey{id: dk.ID, tenant: dk.TenantID, aead: aead, until: time.Now().Add(k.ttl)}, nil
}

func (k *Keyring) cached(m map[string]cachedKey, key string) (cachedKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := m[key]
	if !ok || time.Now().After(c.until) {
		return cachedKey{}, false
	}
	return c, true
}

func (k *Keyring) remember(c cachedKey, active bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, m := range []map[string]cachedKey{k.active, k.byID} {
		if len(m) >= maxCached {
			now := time.Now()
			for key, e := range m {
				if now.After(e.until) {
					delete(m, key)
				}
			}
		}
	}
	if active {
		k.active[c.tenant] = c
	}
	k.byID[c.id] = c
}

// forget drops the tenant's keys from this process's cache.
func (k *Keyring) forget(tenantID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.active, tenantID)
	for id, c := range k.byID {
		if c.tenant == tenantID {
			delete(k.byID, id)
		}
	}
}

// lookupTimeout bounds a key's read or creation.
const lookupTimeout = 5 * time.Second

// activeKey returns the key new payloads of the tenant are sealed with, making the
// tenant's first key if it has none; the platform key without a tenant.
func (k *Keyring) activeKey(tenantID string) (string, cipher.AEAD, error) {
	if tenantID == "" {
		return PlatformKeyID, k.platform, nil
	}
	if c, ok := k.cached(k.active, tenantID); ok {
		return c.id, c.aead, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	dk, found, err := k.store.ActiveDataKey(ctx, tenantID)
	if err == nil && !found {
		dk, err = k.store.AddDataKey(ctx, k.newKey(tenantID), false)
	}
	if err != nil {
		return "", nil, fmt.Errorf("sealing: the data key of tenant %s: %w", tenantID, err)
	}
	c, err := k.unwrap(dk)
	if err != nil {
		return "", nil, err
	}
	k.remember(c, true)
	return c.id, c.aead, nil
}

func (k *Keyring) newKey(tenantID string) store.DataKey {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	id := domain.NewID(PrefixDataKey)
	return store.DataKey{ID: id, TenantID: tenantID, Wrapped: k.box.Seal(string(raw), wrapAAD(tenantID, id))}
}

// keyByID returns the key named id, ErrKeyGone if it does not exist.
func (k *Keyring) keyByID(id string) (cipher.AEAD, error) {
	if id == PlatformKeyID {
		return k.platform, nil
	}
	if c, ok := k.cached(k.byID, id); ok {
		return c.aead, nil
	}
	if !domain.ValidID(PrefixDataKey, id) {
		return nil, fmt.Errorf("sealing: %q is not a data key id", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	dk, found, err := k.store.DataKeyByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sealing: reading data key %s: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrKeyGone, id)
	}
	c, err := k.unwrap(dk)
	if err != nil {
		return nil, err
	}
	k.remember(c, false)
	return c.aead, nil
}

// Rotate gives the tenant a new active key: new payloads are sealed with it (in the other
// processes within a minute); the retired keys still open older payloads. It returns the
// new key's id.
func (k *Keyring) Rotate(ctx context.Context, tenantID string) (string, error) {
	dk, err := k.store.AddDataKey(ctx, k.newKey(tenantID), true)
	k.forget(tenantID)
	return dk.ID, err
}

// Shred deletes every data key of the tenant (crypto-shredding): its payloads left in
// Temporal's histories can no longer be opened, by this process at once and by the others
// within a minute. It returns how many keys it deleted.
func (k *Keyring) Shred(ctx context.Context, tenantID string) (int64, error) {
	n, err := k.store.ShredDataKeys(ctx, tenantID)
	k.forget(tenantID)
	return n, err
}

// seal encrypts each payload whole (metadata and data) under the tenant's key.
func (k *Keyring) seal(tenantID string, payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id, aead, err := k.activeKey(tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		_, _ = rand.Read(nonce)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte(id)},
			Data:     aead.Seal(nonce, nonce, plain, []byte(id)),
		}
	}
	return out, nil
}

// open decrypts sealed payloads; others pass as they are.
func (k *Keyring) open(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		var err error
		if out[i], err = k.openOne(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (k *Keyring) openOne(p *commonpb.Payload) (*commonpb.Payload, error) {
	if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
		return p, nil
	}
	id := string(p.Metadata[MetadataKeyID])
	aead, err := k.keyByID(id)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(p.Data) < n {
		return nil, fmt.Errorf("sealing: a payload sealed by %s is truncated", id)
	}
	plain, err := aead.Open(nil, p.Data[:n], p.Data[n:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("sealing: a payload sealed by %s does not open", id)
	}
	var orig commonpb.Payload
	if err := proto.Unmarshal(plain, &orig); err != nil {
		return nil, err
	}
	return &orig, nil
}

// OpenReadable is the codec endpoint's decode: each payload opened where its key exists,
// left sealed where it does not (shredded), so one unreadable payload does not hide the
// others of a history. It fails only on a payload that is damaged or whose key cannot be
// read for another reason (the database).
func (k *Keyring) OpenReadable(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		o, err := k.openOne(p)
		switch {
		case errors.Is(err, ErrKeyGone):
			out[i] = p
		case err != nil:
			return nil, err
		default:
			out[i] = o
		}
	}
	return out, nil
}

// SealForOps is the codec endpoint's encode (the UI sending a signal or starting a
// workflow): under the platform key, since the UI names no tenant.
func (k *Keyring) SealForOps(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return k.seal("", payloads)
}
