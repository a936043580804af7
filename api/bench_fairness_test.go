package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/threada/threada/internal/temporaltest"
)

// benchFairness: issue 18's table. Tenant B's latencies without and with tenant A at its
// allowed worst (10,000 replayed actions against a receiver answering in 1 s, 5,000 timers
// armed by 50 delay rules that call that receiver when they fire), on a dev server with
// priority and fairness and on one without; then what fairness costs one tenant alone, in
// actions per second, on and off in ABBA order.
func benchFairness(t *testing.T) {
	scenario := noisyNeighbour{replayed: 10_000, floodTickets: 100, bActions: 40, bRules: 20, bTimers: 3}
	fair := temporaltest.Shared(t)
	unfair, err := temporaltest.StartDev(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unfair.Stop)

	fmt.Printf("\nFairness: tenant B's work alone, then while tenant A replays %d actions against a receiver answering in 1 s and arms %d timers (50 delay rules calling that receiver); one worker, one API, one dev server (CLI v1.5.1)\n\n",
		scenario.replayed, scenario.floodTickets*50)
	fmt.Println("| server | B's | alone p50 / p95 / max | with A p50 / p95 / max | p95 with A / alone |")
	fmt.Println("|---|---|---|---|---|")
	for _, srv := range []struct {
		name string
		ts   *temporaltest.Server
	}{{"priority and fairness on", fair}, {"off (Temporal's default)", unfair}} {
		var res noisyResult
		t.Run(srv.name, func(t *testing.T) { res = scenario.run(t, srv.ts) })
		row := func(what string, alone, loaded []time.Duration) {
			fmt.Printf("| %s | %s | %s / %s / %s | %s / %s / %s | %.1fx |\n", srv.name, what,
				ms(pct(alone, 50)), ms(pct(alone, 95)), ms(pct(alone, 100)), ms(pct(loaded, 50)), ms(pct(loaded, 95)), ms(pct(loaded, 100)),
				float64(pct(loaded, 95))/float64(pct(alone, 95)))
		}
		row(fmt.Sprintf("%d actions (POST, Prefer: wait, to succeeded)", scenario.bActions), res.actionsAlone, res.actionsLoaded)
		row(fmt.Sprintf("%d rule runs (PATCH to set_fields visible)", scenario.bRules), res.rulesAlone, res.rulesLoaded)
		fmt.Printf("| %s | %d one-minute timers: fired after due (%v: never) | | %s / %s / %s | |\n", srv.name, scenario.bTimers, timerGiveUp,
			ms(pct(res.timersLate, 50)), ms(pct(res.timersLate, 95)), ms(pct(res.timersLate, 100)))
		fmt.Printf("| %s | (A: timers on Temporal when B armed, when B's were due; actions replayed by the end) | | %d, %d; %d | |\n", srv.name, res.aArmed, res.aArmedAtDue, res.aReplayed)
	}

	// The issue's own measurement: three bulk replays of 100,000 at once against the slow
	// receiver, B's single actions waited on.
	issue := noisyNeighbour{replayed: 100_000, replays: 3, bActions: 20, bRules: 5}
	var res noisyResult
	t.Run("issue 18's measurement", func(t *testing.T) { res = issue.run(t, fair) })
	fmt.Printf("\nIssue 18's own measurement: tenant A asks for 3 bulk replays of %d actions at once (1 runs, 2 wait queued) against a receiver answering in 1 s; tenant B's single POST /actions with Prefer: wait\n\n", issue.replayed)
	fmt.Println("| B's actions | p50 | p95 | max |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| alone | %s | %s | %s |\n| with A | %s | %s | %s |\n", ms(pct(res.actionsAlone, 50)), ms(pct(res.actionsAlone, 95)), ms(pct(res.actionsAlone, 100)),
		ms(pct(res.actionsLoaded, 50)), ms(pct(res.actionsLoaded, 95)), ms(pct(res.actionsLoaded, 100)))
	fmt.Printf("\n(the issue, before: p50 0.25 s alone, 30.6 s with A, max 60 s)\n")

	// What fairness costs one tenant: the actions table's Threada path, on and off, in
	// ABBAAB order so that the servers' growing state weighs on both alike.
	const n, concurrency = 250, 16
	var on, off []float64
	for _, ts := range []*temporaltest.Server{fair, unfair, unfair, fair, fair, unfair} {
		_, api := measureActions(t, ts, n, concurrency, 5, 1)
		if ts == fair {
			on = append(on, api.rates...)
		} else {
			off = append(off, api.rates...)
		}
	}
	fmt.Printf("\nWhat fairness costs one tenant alone: POST /actions -> signed call, %d runs at concurrency %d, servers in ABBAAB order\n\n", n, concurrency)
	fmt.Println("| server | actions/s (mean; runs) |")
	fmt.Println("|---|---|")
	fmt.Printf("| priority and fairness on | %.1f (%s) |\n| off | %.1f (%s) |\n", mean(on), rates(on), mean(off), rates(off))
	fmt.Printf("\nOn vs off: %.2fx actions/s (aim >= 0.95x)\n\n", mean(on)/mean(off))
}
