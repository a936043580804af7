package fairness

import (
	"context"
	"sync"
)

// Queue is a bounded in-process queue of work for a pool of goroutines that hands its
// items out tenants in turn: each tenant's items in the order they came, and no tenant
// gets a second item while another tenant waits for its first. A tenant holds at most
// perTenant items and all tenants max, so one tenant's burst neither delays the others nor
// takes all the room; and at most busyMax of a tenant's items are worked on at once, so
// one tenant's burst cannot take every goroutine of the pool either.
type Queue[T any] struct {
	mu        sync.Mutex
	byTenant  map[string][]T
	busy      map[string]int // items handed out and not done, by tenant
	ring      []string       // tenants with items, in turn order
	next      int            // the ring position whose turn it is
	n         int            // items waiting
	max       int
	perTenant int
	busyMax   int
	wake      chan struct{} // an item may be ready for a waiting Pop
}

// NewQueue returns an empty queue for at most max items, at most perTenant of one tenant,
// and at most busyMax of one tenant's handed out at once.
func NewQueue[T any](max, perTenant, busyMax int) *Queue[T] {
	return &Queue[T]{byTenant: map[string][]T{}, busy: map[string]int{}, max: max, perTenant: perTenant, busyMax: busyMax,
		wake: make(chan struct{}, 1)}
}

// Push adds v for tenant and reports whether there was room (the tenant's and the queue's).
func (q *Queue[T]) Push(tenant string, v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, waiting := q.byTenant[tenant]
	if len(items) >= q.perTenant || q.n >= q.max {
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
	q.n++
	q.signal()
	return true
}

// Pop waits for an item whose tenant has fewer than busyMax handed out, and returns it
// with its tenant and the done func to call when the work on it ends; ok is false when ctx
// ended first.
func (q *Queue[T]) Pop(ctx context.Context) (tenant string, v T, done func(), ok bool) {
	for {
		q.mu.Lock()
		tenant, v, ok = q.take()
		more := ok && q.n > 0
		q.mu.Unlock()
		if ok {
			if more {
				q.signal() // another waiting Pop may take the next
			}
			return tenant, v, q.doneFunc(tenant), true
		}
		select {
		case <-ctx.Done():
			return "", v, nil, false
		case <-q.wake:
		}
	}
}

// take hands out the next item in turn, skipping tenants at busyMax (they lose this turn).
func (q *Queue[T]) take() (tenant string, v T, ok bool) {
	for i := range q.ring {
		pos := (q.next + i) % len(q.ring)
		tenant = q.ring[pos]
		if q.busy[tenant] >= q.busyMax {
			continue
		}
		items := q.byTenant[tenant]
		v, items[0] = items[0], *new(T) // let the item go
		q.n--
		q.busy[tenant]++
		if len(items) == 1 {
			delete(q.byTenant, tenant)
			q.ring = append(q.ring[:pos], q.ring[pos+1:]...) // the next tenant moves here
			q.next = pos
		} else {
			q.byTenant[tenant] = items[1:]
			q.next = pos + 1
		}
		if q.next >= len(q.ring) {
			q.next = 0
		}
		return tenant, v, true
	}
	return "", v, false
}

func (q *Queue[T]) doneFunc(tenant string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			if q.busy[tenant]--; q.busy[tenant] <= 0 {
				delete(q.busy, tenant)
			}
			q.mu.Unlock()
			q.signal()
		})
	}
}

func (q *Queue[T]) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Len is how many items wait.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
