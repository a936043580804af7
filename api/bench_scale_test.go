package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/retention"
	"github.com/threada/threada/internal/store"
)

// scaleCase is one read of the scale table: a request against the generated dataset
// (scripts/scale/dataset.sql), sent as the tenant it names.
type scaleCase struct {
	name   string
	tenant string // ten_big or ten_small
	method string
	path   string
	body   func() any // POST bodies, made fresh (their windows end now)
	flat   bool       // flat before issue 22 (the yardstick rows)
	// bound names what the request reads when that is not a page: its cost grows with
	// it, not with the table (the aim column says so instead of "<= 2x").
	bound string
}

func scaleCases() []scaleCase {
	window := func(extra map[string]any) func() any {
		return func() any {
			now := time.Now().UTC()
			f := map[string]any{"since": now.Add(-29 * 24 * time.Hour).Format(time.RFC3339), "until": now.Format(time.RFC3339)}
			for k, v := range extra {
				f[k] = v
			}
			return map[string]any{"filter": f, "dry_run": true}
		}
	}
	backtest := func() any {
		return map[string]any{"events": []string{domain.EventSLABreached}, "condition": `ticket.priority == "urgent"`, "days": 30,
			"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{"escalated"}}}}
	}
	pub, adm := "/api/v1/public", "/api/v1/admin"
	return []scaleCase{
		{name: "tickets, first page", tenant: "ten_big", method: "GET", path: pub + "/tickets?limit=25", flat: true},
		{name: "tickets, status=pending", tenant: "ten_big", method: "GET", path: pub + "/tickets?limit=25&status=pending", flat: true},
		{name: "tickets, priority=urgent", tenant: "ten_big", method: "GET", path: pub + "/tickets?limit=25&priority=urgent", flat: true},
		{name: "tickets, small tenant", tenant: "ten_small", method: "GET", path: pub + "/tickets?limit=25", flat: true},
		{name: "tickets, tag=vip, small tenant (50 such)", tenant: "ten_small", method: "GET", path: pub + "/tickets?limit=25&tag=vip"},
		{name: "tickets, tag=legal, big tenant (0.05 %)", tenant: "ten_big", method: "GET", path: pub + "/tickets?limit=25&tag=legal",
			bound: "the tenant's tickets with the tag, or a page of its list over their share (the planner takes the fewer)"},
		{name: "tickets, tag=absent, big tenant", tenant: "ten_big", method: "GET", path: pub + "/tickets?limit=25&tag=absent"},
		{name: "admin actions, first page", tenant: "ten_big", method: "GET", path: adm + "/actions?limit=25", flat: true},
		{name: "admin actions, status=failed", tenant: "ten_big", method: "GET", path: adm + "/actions?limit=25&status=failed", flat: true},
		{name: "admin actions, host=erp.example", tenant: "ten_big", method: "GET", path: adm + "/actions?limit=25&host=erp.example"},
		{name: "admin actions, absent host", tenant: "ten_big", method: "GET", path: adm + "/actions?limit=25&host=absent.example"},
		{name: "bulk replay dry run, absent host", tenant: "ten_big", method: "POST", path: adm + "/action-replays", body: window(map[string]any{"host": "absent.example"})},
		{name: "bulk replay dry run, status=failed", tenant: "ten_big", method: "POST", path: adm + "/action-replays", body: window(map[string]any{"status": "failed"}), flat: true,
			bound: "counts the matches, up to domain.MaxReplayBatch + 1, from an index"},
		{name: "destinations", tenant: "ten_big", method: "GET", path: adm + "/destinations", flat: true},
		{name: "backtest, sla.breached (rare)", tenant: "ten_big", method: "POST", path: adm + "/automations/backtest", body: backtest},
		{name: "audit, first page", tenant: "ten_big", method: "GET", path: adm + "/audit-events?limit=25", flat: true},
		{name: "audit, action= with no match", tenant: "ten_big", method: "GET", path: adm + "/audit-events?limit=25&action=api_key.revoked"},
		{name: "audit, actor= with no match", tenant: "ten_big", method: "GET", path: adm + "/audit-events?limit=25&actor=key_absent"},
	}
}

// benchScale is issue 22's scale table: each list and filter against a generated dataset of
// SCALE_SIZES tickets (10^4 and 10^6 by default), p50 and p95 of SCALE_SAMPLES requests.
func benchScale(t *testing.T) {
	sizes := []int{10_000, 1_000_000}
	if s := os.Getenv("SCALE_SIZES"); s != "" { // by hand, e.g. 10000,10000000
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	samples := 40
	if n, err := strconv.Atoi(os.Getenv("SCALE_SAMPLES")); err == nil && n > 0 {
		samples = n
	}
	cases := scaleCases()
	type stat struct{ p50, p95 time.Duration }
	results := make([]map[string]stat, len(sizes))
	var loads, passes, erasures []string
	reuse := os.Getenv("SCALE_DATABASE_URL") // by hand: a database loaded before (10^7 takes half an hour)
	if reuse != "" {
		sizes = sizes[:1]
	}
	for i, n := range sizes {
		dsn, start := reuse, time.Now()
		if dsn == "" {
			dsn = dbtest.NewURL(t)
			out, err := exec.Command("psql", "-q", "-v", "n="+strconv.Itoa(n), "-f", "../scripts/scale/dataset.sql", dsn).CombinedOutput()
			if err != nil {
				t.Fatalf("loading the dataset: %v\n%s", err, out)
			}
		}
		loaded := time.Since(start)
		st, err := store.Open(context.Background(), dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var size string
		var rows int
		if err := st.DB().QueryRowContext(context.Background(), "SELECT pg_size_pretty(pg_database_size(current_database())), (SELECT count(*) FROM tickets)").Scan(&size, &rows); err != nil {
			t.Fatal(err)
		}
		if reuse != "" {
			sizes[i] = rows
		}
		loads = append(loads, fmt.Sprintf("%d tickets (with ten_small's 500 however small n is): loaded in %.1f s, %s", rows, loaded.Seconds(), size))
		results[i] = map[string]stat{}
		func() {
			defer st.Close()
			e := newEnvOn(t, "127.0.0.1:1", st)
			e.srv.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
			e.app = e.srv.app()
			keys := map[string]string{"ten_big": e.newKey("ten_big", domain.AllScopes...), "ten_small": e.newKey("ten_small", domain.AllScopes...)}
			if reuse != "" { // leave the database as it was
				defer st.DB().ExecContext(context.Background(), "DELETE FROM api_keys WHERE tenant_id IN ('ten_big', 'ten_small')") //nolint:errcheck
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = e.app.Listener(ln) }()
			defer e.app.Shutdown()
			base := "http://" + ln.Addr().String()
			client := &http.Client{}
			send := func(c scaleCase) time.Duration {
				var body io.Reader
				if c.body != nil {
					b, _ := json.Marshal(c.body())
					body = bytes.NewReader(b)
				}
				hreq, _ := http.NewRequest(c.method, base+c.path, body)
				hreq.Header.Set("X-Api-Key", keys[c.tenant])
				hreq.Header.Set("Content-Type", "application/json")
				start := time.Now()
				resp, err := client.Do(hreq)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				took := time.Since(start)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s at %d tickets: %d %s", c.name, n, resp.StatusCode, got)
				}
				return took
			}
			for _, c := range cases {
				for range 3 { // warm the caches, as a tenant's repeated requests would
					send(c)
				}
				lat := make([]time.Duration, samples)
				for j := range lat {
					lat[j] = send(c)
				}
				results[i][c.name] = stat{percentile(lat, 50), percentile(lat, 95)}
			}
			// The outbox's claim on the empty queue the drain left (the worker's idle cost).
			lat := make([]time.Duration, samples)
			for j := range lat {
				start := time.Now()
				c, err := st.ClaimEvents(context.Background(), 100)
				if err != nil || !c.Empty() {
					t.Fatalf("claim: %+v %v", c, err)
				}
				lat[j] = time.Since(start)
			}
			results[i]["outbox claim, empty queue after a drain"] = stat{percentile(lat, 50), percentile(lat, 95)}
			if reuse == "" { // it deletes: never on a database loaded by hand
				passes = append(passes, retentionPasses(t, st, rows))
				erasures = append(erasures, erasureRuns(t, st, rows))
			}
		}()
	}
	fmt.Printf("\nScale (issue 22): one tenant with half the tickets, 1,000 small ones; %d requests a row after 3 to warm up, one at a time, the API in process\n\n", samples)
	for _, l := range loads {
		fmt.Println("- " + l)
	}
	fmt.Println()
	head, rule := "| request |", "|---|"
	for _, n := range sizes {
		head += fmt.Sprintf(" p50 at %s | p95 at %s |", count(n), count(n))
		rule += "---|---|"
	}
	fmt.Println(head + " p95, largest / smallest | aim |")
	fmt.Println(rule + "---|---|")
	names := make([]string, 0, len(cases)+1)
	aims := map[string]string{}
	for _, c := range cases {
		names = append(names, c.name)
		aims[c.name] = cmp.Or(c.bound, "<= 2x")
	}
	names = append(names, "outbox claim, empty queue after a drain")
	for _, name := range names {
		row := "| " + name + " |"
		for i := range sizes {
			s := results[i][name]
			row += " " + ms(s.p50) + " | " + ms(s.p95) + " |"
		}
		first, last := results[0][name].p95, results[len(sizes)-1][name].p95
		fmt.Printf("%s %.2fx | %s |\n", row, float64(last)/float64(first), cmp.Or(aims[name], "<= 2x"))
	}
	fmt.Println()
	if len(passes) > 0 {
		fmt.Println("Retention passes (retention.Keeper.Pass over every tenant), after the reads: the first with the big tenant's retention set short")
		fmt.Println("(attempt logs, bodies and runs 7 days, audit 90, closed tickets 14), the second with nothing left to do")
		fmt.Println()
		fmt.Println("| tickets | first pass | removed or emptied | rows/s | second pass |")
		fmt.Println("|---|---|---|---|---|")
		for _, p := range passes {
			fmt.Println(p)
		}
		fmt.Println()
	}
	if len(erasures) > 0 {
		fmt.Println("Erasure of one person (POST /admin/erasures, carried out by store.StepErasure, 200 tickets a transaction), after the retention passes")
		fmt.Println()
		fmt.Println("| tickets | tenant | its tickets searched | steps | time | tickets/s | rows erased |")
		fmt.Println("|---|---|---|---|---|---|---|")
		for _, e := range erasures {
			fmt.Println(e)
		}
		fmt.Println()
	}
}

// erasureRuns times the erasure of one customer's email in a small tenant and in the big
// one, each step after step until it completes, and returns their table rows.
func erasureRuns(t *testing.T, st *store.Store, tickets int) string {
	t.Helper()
	ctx := context.Background()
	var rows []string
	for _, tenant := range []string{"ten_small", "ten_big"} {
		var searched int
		var email string
		if err := st.DB().NewRaw("SELECT count(*), min(contact_email) FROM tickets WHERE tenant_id = ?", tenant).Scan(ctx, &searched, &email); err != nil {
			t.Fatal(err)
		}
		subj, err := domain.NewErasureSubject(email, "")
		if err != nil {
			t.Fatal(err)
		}
		e, err := st.CreateErasure(ctx, tenant, subj, "bench")
		if err != nil {
			t.Fatal(err)
		}
		start, steps := time.Now(), 0
		for {
			stepped, err := st.StepErasure(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := st.GetErasure(ctx, tenant, e.ID); err != nil || got.Status == domain.ErasureCompleted {
				e = got
				break
			}
			if steps++; !stepped && steps > 100_000 {
				t.Fatal("the erasure does not complete")
			}
		}
		took := time.Since(start)
		var erased int64
		for _, n := range e.Counts {
			erased += n
		}
		rows = append(rows, fmt.Sprintf("| %d | %s | %d | %d | %.2f s | %.0f | %d |", tickets, tenant, searched, steps+1, took.Seconds(), float64(searched)/took.Seconds(), erased))
	}
	return strings.Join(rows, "\n")
}

// retentionPasses times two retention passes over the dataset and returns a table row.
func retentionPasses(t *testing.T, st *store.Store, tickets int) string {
	t.Helper()
	ctx := context.Background()
	short := `{"attempts": 7, "response_bodies": 7, "runs": 7, "audit": 90, "closed_tickets": 14}`
	if _, err := st.DB().ExecContext(ctx, "UPDATE tenants SET retention = ? WHERE id = 'ten_big'", short); err != nil {
		t.Fatal(err)
	}
	k := &retention.Keeper{Store: st, Log: slog.New(slog.DiscardHandler)}
	start := time.Now()
	first, err := k.Pass(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	start = time.Now()
	if _, err := k.Pass(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	again := time.Since(start)
	n := int64(first.Tickets) + first.Attempts + first.Runs + first.Audit + first.Bodies
	return fmt.Sprintf("| %d | %.2f s | %d (%d closed tickets with their rows, %d attempts, %d runs, %d audit rows, %d bodies) | %.0f | %.2f s |",
		tickets, took.Seconds(), n, first.Tickets, first.Attempts, first.Runs, first.Audit, first.Bodies, float64(n)/took.Seconds(), again.Seconds())
}

// count writes n as 10^k when it is a power of ten.
func count(n int) string {
	for k, p := 0, 1; p <= n; k, p = k+1, p*10 {
		if p == n {
			return fmt.Sprintf("10^%d", k)
		}
	}
	return strconv.Itoa(n)
}
