package fairness

import (
	"context"
	"sync"
)

// Queue is a bounded in-process queue that hands its items out tenants in turn: each
// tenant's items in the order they came, and no tenant gets a second item while another
// tenant waits for its first. A tenant holds at most perTenant items and all tenants max,
// so one tenant's burst neither delays the others nor takes all the room.
type Queue[T any] struct {
	mu        sync.Mutex
	byTenant  map[string][]T
	ring      []string // tenants with items, in turn order
	next      int      // the ring position whose turn it is
	max       int
	perTenant int
	tokens    chan struct{} // one per item, so Pop can wait with a context
}

// NewQueue returns an empty queue for at most max items, at most perTenant of one tenant.
func NewQueue[T any](max, perTenant int) *Queue[T] {
	return &Queue[T]{byTenant: map[string][]T{}, max: max, perTenant: perTenant, tokens: make(chan struct{}, max)}
}

// Push adds v for tenant and reports whether there was room (the tenant's and the queue's).
func (q *Queue[T]) Push(tenant string, v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, waiting := q.byTenant[tenant]
	if len(items) >= q.perTenant || len(q.tokens) >= q.max {
		return false
	}
	if !waiting { // to the back of the line: just before the tenant whose turn it is
		q.ring = append(q.ring[:q.next], append([]string{tenant}, q.ring[q.next:]...)...)
		q.next++
		if q.next >= len(q.ring) {
			q.next = 0
		}
	}
	q.byTenant[tenant] = append(items, v)
	q.tokens <- struct{}{}
	return true
}

// Pop waits for an item and returns it with its tenant; ok is false when ctx ended first.
func (q *Queue[T]) Pop(ctx context.Context) (tenant string, v T, ok bool) {
	select {
	case <-ctx.Done():
		return "", v, false
	case <-q.tokens:
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	tenant = q.ring[q.next]
	items := q.byTenant[tenant]
	v, items[0] = items[0], *new(T) // let the item go
	if len(items) == 1 {
		delete(q.byTenant, tenant)
		q.ring = append(q.ring[:q.next], q.ring[q.next+1:]...) // the next tenant moves here
	} else {
		q.byTenant[tenant] = items[1:]
		q.next++
	}
	if q.next >= len(q.ring) {
		q.next = 0
	}
	return tenant, v, true
}

// Len is how many items wait.
func (q *Queue[T]) Len() int { return len(q.tokens) }
