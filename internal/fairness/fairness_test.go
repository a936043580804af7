package fairness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/domain"
)

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		name   string
		origin string
		relay  bool
		weight float64
		want   temporal.Priority
	}{
		{"a client's action goes first", domain.OriginAPI, false, 1, temporal.Priority{PriorityKey: 1, FairnessKey: "ten_a", FairnessWeight: 1}},
		{"an automation's action next", domain.OriginAutomation, false, 2.5, temporal.Priority{PriorityKey: 2, FairnessKey: "ten_a", FairnessWeight: 2.5}},
		{"a bulk replay's last", domain.OriginBulkReplay, false, 1, temporal.Priority{PriorityKey: 4, FairnessKey: "ten_a", FairnessWeight: 1}},
		{"a client's action started by the relay is catch-up", domain.OriginAPI, true, 1, temporal.Priority{PriorityKey: 3, FairnessKey: "ten_a", FairnessWeight: 1}},
		{"an automation's action started by the relay is catch-up", domain.OriginAutomation, true, 1, temporal.Priority{PriorityKey: 3, FairnessKey: "ten_a", FairnessWeight: 1}},
		{"a bulk replay's action started by the relay stays last", domain.OriginBulkReplay, true, 1, temporal.Priority{PriorityKey: 4, FairnessKey: "ten_a", FairnessWeight: 1}},
		{"no weight is the default weight", "", false, 0, temporal.Priority{PriorityKey: 1, FairnessKey: "ten_a", FairnessWeight: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ClassOf(tc.origin)
			if tc.relay {
				c = c.Relayed()
			}
			if got := Priority("ten_a", tc.weight, c); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDevServerFlags(t *testing.T) {
	got := DevServerFlags()
	if len(got) != 2*len(DynamicConfig) || got[0] != "--dynamic-config-value" || got[1] != "matching.useNewMatcher=true" {
		t.Fatalf("flags: %q", got)
	}
	if !slices.Contains(got, "matching.enableFairness=true") {
		t.Fatalf("fairness is not turned on: %q", got)
	}
}

// TestQueueIsFairAndBounded drives the queue with random pushes and pops from a few
// tenants and checks it against what it promises: each tenant's items come out in the
// order they went in, no tenant gets a second turn while another that was waiting all
// along gets none, nothing is lost, and a push fails exactly when a bound is reached.
func TestQueueIsFairAndBounded(t *testing.T) {
	for seed := range uint64(200) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			const max, perTenant = 12, 5
			q := NewQueue[int](max, perTenant, 1)
			tenants := []string{"a", "b", "c", "d"}
			in := map[string][]int{} // the oracle: what each tenant has waiting, in order
			total := 0
			// turnsSince[x][y]: turns y had since x last had one, while x was waiting.
			turnsSince := map[string]map[string]int{}
			for step := range 300 {
				if rng.IntN(3) > 0 { // push more often than pop, to fill it
					tn := tenants[rng.IntN(len(tenants))]
					if rng.IntN(4) == 0 {
						tn = "a" // one heavy tenant
					}
					want := len(in[tn]) < perTenant && total < max
					if got := q.Push(tn, step); got != want {
						t.Fatalf("step %d: Push(%s) = %v, want %v (tenant has %d, queue %d)", step, tn, got, want, len(in[tn]), total)
					}
					if want {
						if len(in[tn]) == 0 {
							turnsSince[tn] = map[string]int{}
						}
						in[tn] = append(in[tn], step)
						total++
					}
					continue
				}
				if total == 0 {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				tn, v, done, ok := q.Pop(ctx)
				cancel()
				if !ok {
					t.Fatalf("step %d: Pop found nothing with %d waiting", step, total)
				}
				done()
				if len(in[tn]) == 0 || in[tn][0] != v {
					t.Fatalf("step %d: Pop gave %s's %d, but %s's next is %v", step, tn, v, tn, in[tn])
				}
				for other, turns := range turnsSince {
					if other == tn || len(in[other]) == 0 {
						continue
					}
					if turns[tn]++; turns[tn] > 1 {
						t.Fatalf("step %d: %s got a second turn while %s waited", step, tn, other)
					}
				}
				turnsSince[tn] = map[string]int{}
				in[tn] = in[tn][1:]
				total--
				if q.Len() != total {
					t.Fatalf("step %d: Len %d, want %d", step, q.Len(), total)
				}
			}
		})
	}
}

func TestQueuePopWaitsForAnItemOrTheContext(t *testing.T) {
	q := NewQueue[string](4, 4, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, _, ok := q.Pop(ctx); ok {
		t.Fatal("Pop on an empty queue returned an item")
	}
	got := make(chan string)
	go func() {
		_, v, _, _ := q.Pop(context.Background())
		got <- v
	}()
	q.Push("b", "arm")
	select {
	case v := <-got:
		if v != "arm" {
			t.Fatalf("got %q", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not wake for a push")
	}
}

// TestQueueBoundsATenantsWorkInHand: with busyMax 2, a third item of a tenant with two in
// hand waits until one is done, while another tenant's item goes at once.
func TestQueueBoundsATenantsWorkInHand(t *testing.T) {
	q := NewQueue[int](100, 100, 2)
	for i := range 5 {
		q.Push("a", i)
	}
	pop := func(within time.Duration) (string, int, func(), bool) {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		return q.Pop(ctx)
	}
	_, _, done0, _ := pop(time.Second)
	_, _, _, _ = pop(time.Second)
	if _, _, _, ok := pop(30 * time.Millisecond); ok {
		t.Fatal("a third item of a tenant with two in hand was handed out")
	}
	q.Push("b", 100)
	if tn, v, _, ok := pop(time.Second); !ok || tn != "b" || v != 100 {
		t.Fatalf("the other tenant's item: %s %d %v", tn, v, ok)
	}
	got := make(chan int)
	go func() {
		_, v, _, _ := pop(5 * time.Second)
		got <- v
	}()
	time.Sleep(20 * time.Millisecond)
	done0()
	done0() // twice is once
	select {
	case v := <-got:
		if v != 2 {
			t.Fatalf("got %d, want a's next, 2", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("done did not let the waiting Pop take a's next item")
	}
	if _, _, _, ok := pop(30 * time.Millisecond); ok {
		t.Fatal("a's fourth item went out with two in hand (done twice counted twice?)")
	}
}

func TestWeights(t *testing.T) {
	loads := 0
	var fail bool
	w := NewWeights(func(_ context.Context, id string) (float64, error) {
		loads++
		if fail {
			return 0, errors.New("database down")
		}
		return map[string]float64{"ten_a": 3}[id], nil
	})
	clock := time.Unix(1000, 0)
	w.now = func() time.Time { return clock }
	ctx := context.Background()
	if got := w.Get(ctx, "ten_a"); got != 3 || loads != 1 {
		t.Fatalf("first read: %v after %d loads", got, loads)
	}
	if got := w.Get(ctx, "ten_a"); got != 3 || loads != 1 {
		t.Fatalf("cached read: %v after %d loads", got, loads)
	}
	clock = clock.Add(weightTTL)
	fail = true
	if got := w.Get(ctx, "ten_a"); got != domain.DefaultDeliveryWeight || loads != 2 {
		t.Fatalf("read while the store fails: %v after %d loads", got, loads)
	}
	if got := w.Get(ctx, "ten_b"); got != domain.DefaultDeliveryWeight {
		t.Fatalf("unknown tenant: %v", got)
	}
	var none *Weights
	if got := none.Get(ctx, "ten_a"); got != domain.DefaultDeliveryWeight {
		t.Fatalf("no cache: %v", got)
	}
}
