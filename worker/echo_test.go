package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEchoReceiverAnswersTheStatusAsked: the echo receiver answers 503 to the first
// --fail-first attempts of each action and 200 after, except that a path /status/NNN always
// gets the status it names.
func TestEchoReceiverAnswersTheStatusAsked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = echoReceiver(ctx, []string{"--addr", addr, "--fail-first", "1"}, func(string) string { return "" }, io.Discard)
	}()
	post := func(path, id string) int {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(`{}`))
			req.Header.Set("webhook-id", id)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if time.Now().After(deadline) {
					t.Fatal(err)
				}
				continue
			}
			resp.Body.Close()
			return resp.StatusCode
		}
	}
	for _, tc := range []struct {
		path, id string
		want     int
	}{
		{"/hooks/zapier", "act_1", 503}, {"/hooks/zapier", "act_1", 200},
		{"/status/404", "act_2", 404}, {"/status/404", "act_2", 404},
		{"/status/abc", "act_3", 503}, {"/status/abc", "act_3", 200},
	} {
		if got := post(tc.path, tc.id); got != tc.want {
			t.Errorf("POST %s (%s): %d, want %d", tc.path, tc.id, got, tc.want)
		}
	}
}
