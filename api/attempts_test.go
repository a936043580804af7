package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// attemptJSON decodes one item of GET /actions/{id}/attempts.
type attemptJSON struct {
	Attempt       int                    `json:"attempt"`
	StartedAt     string                 `json:"started_at"`
	CompletedAt   *string                `json:"completed_at"`
	DurationMS    *int64                 `json:"duration_ms"`
	Outcome       *string                `json:"outcome"`
	StatusCode    *int                   `json:"status_code"`
	Error         *string                `json:"error"`
	Response      *domain.ActionResponse `json:"response"`
	NextAttemptAt *string                `json:"next_attempt_at"`
}

func (e *testEnv) attempts(f actionFixture, id, query string) listJSON[attemptJSON] {
	e.t.Helper()
	var page listJSON[attemptJSON]
	resp := e.do(req{method: "GET", path: "/api/v1/public/actions/" + id + "/attempts" + query, key: f.key})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("attempts: %d %s", resp.Status, resp.Body)
	}
	resp.decode(e.t, &page)
	return page
}

// TestAttemptLogOfARetriedAction: an action that succeeded on its third attempt shows why
// the first two failed, oldest first, page by page; another tenant cannot read it.
func TestAttemptLogOfARetriedAction(t *testing.T) {
	e, _ := newActionEnv(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("busy"))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	f := e.actionFixture(rc.URL)
	a := decodeAction(t, e.postAction(f, referenceAction(), map[string]string{"Prefer": "wait=20"}))
	if a.Status != "succeeded" || a.Attempts != 3 {
		t.Fatalf("status %q attempts %d", a.Status, a.Attempts)
	}
	first := e.attempts(f, a.ActionID, "?limit=2")
	if len(first.Items) != 2 || first.NextPageToken == "" {
		t.Fatalf("first page: %d items, token %q", len(first.Items), first.NextPageToken)
	}
	rest := e.attempts(f, a.ActionID, "?limit=2&page_token="+url.QueryEscape(first.NextPageToken))
	if len(rest.Items) != 1 || rest.NextPageToken != "" {
		t.Fatalf("second page: %d items, token %q", len(rest.Items), rest.NextPageToken)
	}
	all := append(first.Items, rest.Items...)
	for i, at := range all {
		if at.Attempt != i+1 || at.CompletedAt == nil || at.DurationMS == nil || at.Response == nil || at.StatusCode == nil {
			t.Fatalf("attempt %d: %+v", i+1, at)
		}
		started, _ := time.Parse(time.RFC3339, at.StartedAt)
		completed, _ := time.Parse(time.RFC3339, *at.CompletedAt)
		if completed.Before(started) {
			t.Errorf("attempt %d completed %s before it started %s", at.Attempt, *at.CompletedAt, at.StartedAt)
		}
	}
	for _, at := range all[:2] {
		want := "POST " + rc.URL + "/hooks/zapier: 503 Service Unavailable"
		if deref(at.Outcome) != "failed" || *at.StatusCode != 503 || deref(at.Error) != want || at.Response.Body != "busy" || at.NextAttemptAt == nil {
			t.Errorf("failed attempt %d: outcome %s, error %s, response %+v, next %v", at.Attempt, deref(at.Outcome), deref(at.Error), at.Response, at.NextAttemptAt)
		}
	}
	if last := all[2]; deref(last.Outcome) != "succeeded" || *last.StatusCode != 200 || last.Error != nil || last.NextAttemptAt != nil || last.Response.Body != `{"ok":true}` {
		t.Errorf("last attempt: %+v", last)
	}

	other := e.actionFixture(rc.URL)
	wantError(t, e.do(req{method: "GET", path: "/api/v1/public/actions/" + a.ActionID + "/attempts", key: other.key}), http.StatusNotFound, "not_found_error", "")
	wantError(t, e.do(req{method: "GET", path: "/api/v1/public/actions/" + a.ActionID + "/attempts?page_token=" + url.QueryEscape(first.NextPageToken[1:]), key: f.key}),
		http.StatusBadRequest, "invalid_request_error", "page_token")
}

// TestAttemptInFlightIsListedAndCancelKeepsTheError: the attempt being made is listed
// with no outcome yet; a cancel keeps the last failed attempt's error beside its reason,
// and ends the attempt in flight as canceled unless its own outcome arrives.
func TestAttemptInFlightIsListedAndCancelKeepsTheError(t *testing.T) {
	e, _ := newActionEnv(t)
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		<-release
		w.WriteHeader(http.StatusBadGateway)
	})
	defer close(release)
	f := e.actionFixture(rc.URL)
	body := referenceAction()
	body["payload"].(map[string]any)["max_attempts"] = 5
	a := decodeAction(t, e.postAction(f, body, nil))

	var page listJSON[attemptJSON]
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if page = e.attempts(f, a.ActionID, ""); len(page.Items) == 2 {
			break
		}
	}
	if len(page.Items) != 2 || deref(page.Items[0].Outcome) != "failed" {
		t.Fatalf("attempts: %+v", page.Items)
	}
	if inFlight := page.Items[1]; inFlight.Attempt != 2 || inFlight.CompletedAt != nil || inFlight.Outcome != nil || inFlight.DurationMS != nil {
		t.Fatalf("the attempt in flight: %+v", inFlight)
	}

	resp := e.do(req{method: "POST", path: "/api/v1/public/actions/" + a.ActionID + "/cancel", key: f.key})
	c := decodeAction(t, resp)
	want := "POST " + rc.URL + "/hooks/zapier: 502 Bad Gateway"
	if c.Status != "canceled" || deref(c.LastError) != want || deref(c.CanceledReason) != "canceled after it started" {
		t.Fatalf("after cancel: status %s, last_error %s, canceled_reason %s", c.Status, deref(c.LastError), deref(c.CanceledReason))
	}
	if second := e.attempts(f, a.ActionID, "").Items[1]; deref(second.Outcome) != "canceled" || second.CompletedAt == nil {
		t.Errorf("the attempt in flight after the cancel: %+v", second)
	}
}
