package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/workflows"
)

// sealedAction runs one action of tenant f through the API, with a receiver token in a
// header, a person's email in the body and the receiver's answer carrying marker; it
// returns the action's id once it succeeded.
func sealedAction(t *testing.T, e *testEnv, f actionFixture, marker string) string {
	t.Helper()
	resp := e.postAction(f, map[string]any{"payload": map[string]any{
		"type": "custom_http", "method": "POST", "url": "/hooks/" + marker,
		"headers":   map[string]string{"X-Receiver-Token": "tok-" + marker},
		"body_json": `{"contact":"` + marker + `@example.com"}`,
	}}, map[string]string{"Prefer": "wait=15"})
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	a := decodeAction(t, resp)
	if a.Status != "succeeded" || a.Response == nil || !strings.Contains(a.Response.Body, "resp-"+marker) {
		t.Fatalf("action %s: %s", a.Status, resp.Body)
	}
	return a.ActionID
}

// history returns a workflow's events, read through the Temporal API by a client that
// holds no key.
func history(t *testing.T, ts *temporaltest.Server, workflowID string) []*historypb.HistoryEvent {
	t.Helper()
	var out []*historypb.HistoryEvent
	it := ts.Client(t).GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// startInput is the payload of a workflow's start: its input.
func startInput(t *testing.T, events []*historypb.HistoryEvent) *commonpb.Payload {
	t.Helper()
	for _, ev := range events {
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			return a.GetInput().GetPayloads()[0]
		}
	}
	t.Fatal("no start event")
	return nil
}

// codecCall posts payloads to the codec endpoint at path, with the bearer token if any.
func codecCall(t *testing.T, e *testEnv, path, bearer string, payloads ...*commonpb.Payload) (int, []*commonpb.Payload) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Namespace", "default")
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.app.Test(r, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(raw, &out); err != nil {
		t.Fatalf("codec answer %s: %v", raw, err)
	}
	return resp.StatusCode, out.Payloads
}

// TestTemporalHistoriesAreSealed (issue 22): two tenants' actions run on Temporal, and
// their histories, read through the Temporal API, hold none of what the tenants sent or
// received (header, body, email, response): every payload is sealed, each tenant's under
// its own key. Ops read them through the codec endpoint with the ops credential only. A
// rotated key still opens the histories it sealed, which keep replaying; after a tenant's
// keys are shredded its histories no longer open, while the other tenant's actions run
// and replay as before.
func TestTemporalHistoriesAreSealed(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, _ := newActionEnv(t)
	rc := newReceiver(t, nil)
	rc.respond = func(n int, w http.ResponseWriter) {
		path := rc.requests()[n-1].Path
		if strings.HasPrefix(path, "/fail/") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"echo":"resp-%s"}`, strings.TrimPrefix(path, "/hooks/"))
	}
	a, b := e.actionFixture(rc.URL), e.actionFixture(rc.URL)
	idA, idB := sealedAction(t, e, a, "ada-lovelace"), sealedAction(t, e, b, "grace-hopper")

	keyOf := func(events []*historypb.HistoryEvent) string {
		p := startInput(t, events)
		if string(p.Metadata[converter.MetadataEncoding]) != sealing.Encoding {
			t.Fatalf("the start input is not sealed: %v", p.Metadata)
		}
		return string(p.Metadata[sealing.MetadataKeyID])
	}
	// A failed action: its error names the receiver's URL, which the history must not.
	resp := e.postAction(a, map[string]any{"payload": map[string]any{"type": "custom_http", "method": "POST",
		"url": "/fail/ada-failed-path", "max_attempts": 1}}, map[string]string{"Prefer": "wait=15"})
	failed := decodeAction(t, resp)
	if failed.Status != "failed" || failed.LastError == nil || !strings.Contains(*failed.LastError, "ada-failed-path") {
		t.Fatalf("the failing action: %d %s", resp.Status, resp.Body)
	}
	for _, ev := range history(t, ts, failed.ActionID) {
		if raw, _ := proto.Marshal(ev); bytes.Contains(raw, []byte("ada-failed-path")) {
			t.Errorf("event %d (%s) of the failed action names its URL in the clear", ev.EventId, ev.EventType)
		}
	}
	histA, histB := history(t, ts, idA), history(t, ts, idB)
	keyA, keyB := keyOf(histA), keyOf(histB)
	if !strings.HasPrefix(keyA, "tdk_") || !strings.HasPrefix(keyB, "tdk_") || keyA == keyB {
		t.Fatalf("keys %q and %q: want one data key per tenant", keyA, keyB)
	}
	for name, events := range map[string][]*historypb.HistoryEvent{"ada-lovelace": histA, "grace-hopper": histB} {
		payloads := 0
		for _, ev := range events {
			raw, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"tok-" + name, name + "@example.com", "resp-" + name, "X-Receiver-Token", "/hooks/" + name} {
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("event %d (%s) of %s's action holds %q in the clear", ev.EventId, ev.EventType, name, secret)
				}
			}
			payloads += bytes.Count(raw, []byte(sealing.Encoding))
		}
		if payloads < 4 { // input, the attempt's input and outcome, the result
			t.Errorf("%s's history has %d sealed payloads, want at least 4", name, payloads)
		}
	}
	// What the API returned is still whole: sealing is between Threada and Temporal only.
	if got := e.getAction(a, idA, nil); got.Response == nil || !strings.Contains(got.Response.Body, "resp-ada-lovelace") {
		t.Errorf("the API's view of the action lost its response: %+v", got.Response)
	}

	// The codec endpoint: the ops credential opens the payloads, nothing else does.
	inA := startInput(t, histA)
	if status, _ := codecCall(t, e, "/ops/codec/decode", "", inA); status != http.StatusUnauthorized {
		t.Errorf("decode without the ops credential: %d", status)
	}
	if status, _ := codecCall(t, e, "/ops/codec/decode", "not-the-token-not-the-token-not-the-token", inA); status != http.StatusUnauthorized {
		t.Errorf("decode with a wrong credential: %d", status)
	}
	for _, how := range []struct{ path, bearer string }{{"/ops/codec/decode", testCodecToken}, {"/ops/codec/" + testCodecToken + "/decode", ""}} {
		status, out := codecCall(t, e, how.path, how.bearer, inA)
		if status != http.StatusOK || len(out) != 1 || !bytes.Contains(out[0].Data, []byte("ada-lovelace@example.com")) {
			t.Errorf("decode through %s: %d %v", loggablePath(how.path), status, out)
		}
	}
	if strings.Contains(e.logs.String(), testCodecToken) {
		t.Error("the ops credential is in the logs")
	}

	// Rotation: new payloads use the new key; the old histories still open and replay.
	ctx := context.Background()
	newKey, err := e.keys.Rotate(ctx, a.tenant)
	if err != nil || newKey == keyA {
		t.Fatalf("rotate: %q %v", newKey, err)
	}
	idA2 := sealedAction(t, e, a, "ada-again")
	if k := keyOf(history(t, ts, idA2)); k != newKey {
		t.Errorf("after rotation the new action is sealed by %s, want %s", k, newKey)
	}
	replay := func(id string) error {
		r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
			DataConverter: e.keys.DataConverter(), ContextPropagators: []workflow.ContextPropagator{sealing.Propagator{}}})
		if err != nil {
			return err
		}
		workflows.RegisterWorkflows(r)
		return r.ReplayWorkflowExecution(ctx, ts.Client(t).WorkflowService(), tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)), "default",
			workflow.Execution{ID: id})
	}
	for _, id := range []string{idA, idA2, idB} {
		if err := replay(id); err != nil {
			t.Errorf("replaying %s: %v", id, err)
		}
	}

	// Shredding tenant a: its histories no longer open, for the codec endpoint (which
	// answers them sealed) nor for a replay; tenant b's actions run and replay.
	if n, err := e.keys.Shred(ctx, a.tenant); err != nil || n != 2 { // the rotated one and the active one
		t.Fatalf("shred: %d keys, %v", n, err)
	}
	status, out := codecCall(t, e, "/ops/codec/decode", testCodecToken, inA, startInput(t, histB))
	if status != http.StatusOK || len(out) != 2 || !proto.Equal(out[0], inA) || !bytes.Contains(out[1].Data, []byte("grace-hopper@example.com")) {
		t.Errorf("decode after shredding tenant a: %d %v", status, out)
	}
	if err := replay(idA); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Errorf("replaying a shredded tenant's workflow: %v", err)
	}
	idB2 := sealedAction(t, e, b, "grace-again")
	for _, id := range []string{idB, idB2} {
		if err := replay(id); err != nil {
			t.Errorf("replaying the other tenant's %s after the shredding: %v", id, err)
		}
	}
	if err := e.keys.DataConverter().FromPayload(inA, new(contract.ActionInput)); !errors.Is(err, sealing.ErrKeyGone) {
		t.Errorf("opening a shredded payload: %v, want ErrKeyGone", err)
	}
}

// TestRotateDataKeyCommand: `api tenant rotate-data-key` gives the tenant a new active key
// and keeps the retired ones; another tenant's keys are untouched; an unknown tenant or a
// missing SECRETS_KEY is refused.
func TestRotateDataKeyCommand(t *testing.T) {
	e, dsn := envOnURL(t, "127.0.0.1:1")
	a, b := e.newTenant("a"), e.newTenant("b")
	env := map[string]string{"DATABASE_URL": dsn, "SECRETS_KEY": e.cfg.SecretsKey}
	ctx := context.Background()
	before, err := e.keys.Rotate(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		out, err := runCLI(t, env, "tenant", "rotate-data-key", a)
		var got struct {
			DataKeyID string `json:"data_key_id"`
		}
		if err != nil || json.Unmarshal([]byte(out), &got) != nil || !strings.HasPrefix(got.DataKeyID, "tdk_") {
			t.Fatalf("rotate: %s %v", out, err)
		}
		ids = append(ids, got.DataKeyID)
	}
	active, _, err := e.store.ActiveDataKey(ctx, a)
	if err != nil || active.ID != ids[1] || ids[0] == ids[1] {
		t.Errorf("active key %s (%v), want the second rotation's %s", active.ID, err, ids[1])
	}
	if old, found, _ := e.store.DataKeyByID(ctx, ids[0]); !found || old.RetiredAt == nil {
		t.Errorf("the first key is gone or still active: %+v", old)
	}
	if k, _, _ := e.store.ActiveDataKey(ctx, b); k.ID != before {
		t.Errorf("the other tenant's key changed: %s -> %s", before, k.ID)
	}
	if _, err := runCLI(t, env, "tenant", "rotate-data-key", domain.NewID(domain.PrefixTenant)); err == nil {
		t.Error("an unknown tenant was given a key")
	}
	delete(env, "SECRETS_KEY")
	if _, err := runCLI(t, env, "tenant", "rotate-data-key", a); err == nil || !strings.Contains(err.Error(), "SECRETS_KEY") {
		t.Errorf("without SECRETS_KEY: %v", err)
	}
}

// TestCodecEndpointCORS: the Temporal UI (TEMPORAL_UI_URL's origin) may call the codec
// endpoint from the browser; other origins are not told they may; a request with no
// credential is refused in the public error format; bad bodies are 400s.
func TestCodecEndpointCORS(t *testing.T) {
	e := newTestEnv(t)
	for origin, allowed := range map[string]bool{"http://127.0.0.1:8233": true, "https://evil.example": false} {
		r := httptest.NewRequest("OPTIONS", "/ops/codec/decode", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace,authorization")
		resp, err := e.app.Test(r, -1)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if resp.StatusCode != http.StatusNoContent || (got == origin) != allowed ||
			(allowed && !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Namespace")) {
			t.Errorf("preflight from %s: %d, allow-origin %q, headers %q", origin, resp.StatusCode, got, resp.Header.Get("Access-Control-Allow-Headers"))
		}
	}
	resp := e.do(req{method: "POST", path: "/ops/codec/encode", body: map[string]any{"payloads": []any{}}})
	wantError(t, resp, http.StatusUnauthorized, "authentication_error", "")
	if status, out := codecCall(t, e, "/ops/codec/decode", testCodecToken); status != http.StatusOK || len(out) != 0 {
		t.Errorf("decode of no payloads: %d %v", status, out)
	}
	r := httptest.NewRequest("POST", "/ops/codec/decode", strings.NewReader("not json"))
	r.Header.Set("Authorization", "Bearer "+testCodecToken)
	if resp, err := e.app.Test(r, -1); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a body that is not JSON: %v %v", resp.StatusCode, err)
	}
	// Encode then decode: what the UI sends (a signal's input) comes back as it was.
	plain, _ := converter.GetDefaultDataConverter().ToPayload(map[string]string{"note": "from the UI"})
	status, sealed := codecCall(t, e, "/ops/codec/encode", testCodecToken, plain)
	if status != http.StatusOK || len(sealed) != 1 || string(sealed[0].Metadata[sealing.MetadataKeyID]) != sealing.PlatformKeyID {
		t.Fatalf("encode: %d %v", status, sealed)
	}
	if status, back := codecCall(t, e, "/ops/codec/decode", testCodecToken, sealed...); status != http.StatusOK || !proto.Equal(back[0], plain) {
		t.Errorf("decode of the encoded: %d %v", status, back)
	}
}
