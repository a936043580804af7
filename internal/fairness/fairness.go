// Package fairness is how Threada shares one Temporal engine between tenants. Every
// workflow it starts carries a Temporal Priority (its activities inherit it): the fairness
// key is the tenant, so Temporal's matching hands out a task queue's tasks to tenants in
// proportion to their weights instead of first in, first out; and the priority key is the
// work's class, so a client waiting on its own action goes before automations and timers,
// which go before late starts from the relays, which go before bulk replays.
//
// The server must run with the dynamic config in DynamicConfig (scripts/temporal.sh,
// scripts/temporal-server.sh, docker-compose.yml and internal/temporaltest all use it);
// without it Temporal ignores the keys and dispatches in arrival order.
package fairness

import (
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/domain"
)

// Class is what kind of work a workflow is, most urgent first. It is the Temporal priority
// key: a task of a lower class is dispatched before any task of a higher one on the same
// task queue; within a class tenants share by weight.
type Class int

// Classes, in the order Temporal dispatches them.
const (
	// Live is a client's own action (POST /actions, a single replay), often waited on
	// with Prefer: wait.
	Live Class = 1
	// Automation is an action an automation started, and a timer (a delay rule's, an SLA
	// clock's) arming and firing.
	Automation Class = 2
	// CatchUp is what the relays start late: an action accepted while Temporal was
	// unreachable, or left by a process that died between commit and start.
	CatchUp Class = 3
	// Bulk is a bulk replay and the actions it replays: they yield to everything else.
	Bulk Class = 4
)

// ClassOf is the class of an action by its origin (domain.Origin*).
func ClassOf(origin string) Class {
	switch origin {
	case domain.OriginAutomation:
		return Automation
	case domain.OriginBulkReplay:
		return Bulk
	default:
		return Live
	}
}

// Relayed is the class of work the relay starts late: CatchUp, or its own if that is
// lower still.
func (c Class) Relayed() Class { return max(c, CatchUp) }

// Priority is the Temporal priority of a tenant's work of class c: the tenant's id as
// fairness key, its delivery weight (domain.DefaultDeliveryWeight when 0) as fairness weight.
func Priority(tenantID string, weight float64, c Class) temporal.Priority {
	if weight <= 0 {
		weight = domain.DefaultDeliveryWeight
	}
	return temporal.Priority{PriorityKey: int(c), FairnessKey: tenantID, FairnessWeight: float32(weight)}
}

// Setting is one dynamic config value of the Temporal server.
type Setting struct{ Key, Value string }

// DynamicConfig is what the Temporal server (the dev server and Temporal's own) runs with:
// the priority-aware matcher, fairness by key, and one partition per task queue. With
// Temporal's default of 4 partitions each partition is fair on its own, and in a test of
// 300 tasks of one tenant and 5 of another on one worker slot the other's fifth task ran
// 107th to 114th in half the runs (on 1 partition: 9th or 10th every time). One partition
// carries a task queue's load on this scale (hundreds of tasks per second); see the
// README's production section before raising it.
var DynamicConfig = []Setting{
	{"matching.useNewMatcher", "true"},
	{"matching.enableFairness", "true"},
	{"matching.numTaskqueueReadPartitions", "1"},
	{"matching.numTaskqueueWritePartitions", "1"},
}

// DevServerFlags are DynamicConfig as the Temporal CLI's dev server takes it.
func DevServerFlags() []string {
	out := make([]string, 0, 2*len(DynamicConfig))
	for _, s := range DynamicConfig {
		out = append(out, "--dynamic-config-value", s.Key+"="+s.Value)
	}
	return out
}
