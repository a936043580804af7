// Package client is a Go client of the Threada API: the typed client generated from
// api/openapi.yaml (client.gen.go, by oapi-codegen; `make generate` regenerates it) and,
// in this file, what the generator leaves out: the API key on every request, retries of
// 429 and 503 answers honouring Retry-After, an automatic Idempotency-Key on every POST
// (the same on each retry, so a retried create creates once), `Prefer: wait` (Wait), and
// page iterators.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Threada is a client of one Threada API with one API key.
type Threada struct {
	*ClientWithResponses
}

// Options tune a client; the zero value is ready to use.
type Options struct {
	HTTPClient  *http.Client  // http.DefaultClient if nil
	MaxAttempts int           // tries of a request answered 429 or 503, or lost on the way; default 4
	MaxWait     time.Duration // the longest wait between tries; default 30 s
}

// New returns a client of the API at baseURL (such as http://127.0.0.1:8080) sending
// apiKey in X-Api-Key.
func New(baseURL, apiKey string, o Options) (*Threada, error) {
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	c, err := NewClientWithResponses(strings.TrimSuffix(baseURL, "/"), WithHTTPClient(&retrier{key: apiKey, o: o}))
	if err != nil {
		return nil, err
	}
	return &Threada{c}, nil
}

// Wait is the `Prefer` parameter that asks a POST answering an action, or GET
// /actions/{id}, to hold the answer until the action ends or d passes (at most 30 s).
func Wait(d time.Duration) *PreferWait {
	v := "wait=" + strconv.Itoa(int(math.Ceil(d.Seconds())))
	return &v
}

// retrier sends requests with the key, an Idempotency-Key on POSTs, and retries.
type retrier struct {
	key string
	o   Options
}

func (r *retrier) Do(req *http.Request) (*http.Response, error) {
	req.Header.Set("X-Api-Key", r.key)
	if req.Method == http.MethodPost && req.Header.Get("Idempotency-Key") == "" {
		req.Header.Set("Idempotency-Key", newKey())
	}
	// Without an Idempotency-Key (PATCH, DELETE), a request lost on the way may have been
	// applied; those are retried only when the API answered 429 or 503 (nothing applied).
	safe := req.Method == http.MethodGet || req.Header.Get("Idempotency-Key") != ""
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		resp, err := r.o.HTTPClient.Do(req)
		retry := err != nil && safe && req.Context().Err() == nil ||
			err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable)
		if !retry || attempt >= r.o.MaxAttempts {
			return resp, err
		}
		d := wait
		if err == nil {
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
				d = time.Duration(s) * time.Second
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		d = min(d, r.o.MaxWait)
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(d):
		}
		wait = min(2*wait, r.o.MaxWait)
	}
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// APIError is an error answer of the API: {"error": {"type", "message", "code", "param"}}.
type APIError struct {
	Status  int
	Type    string
	Message string
	Param   string
}

func (e *APIError) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("threada: %d %s: %s (param %s)", e.Status, e.Type, e.Message, e.Param)
	}
	return fmt.Sprintf("threada: %d %s: %s", e.Status, e.Type, e.Message)
}

// Check turns an answer into an *APIError unless its status is 2xx.
func Check(resp *http.Response, body []byte) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var e Error
	if err := json.Unmarshal(body, &e); err != nil {
		return &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(body))}
	}
	out := &APIError{Status: resp.StatusCode, Type: string(e.Error.Type), Message: e.Error.Message}
	if e.Error.Param != nil {
		out.Param = *e.Error.Param
	}
	return out
}

// Tickets iterates over the tickets params select, page after page.
func (t *Threada) Tickets(ctx context.Context, params ListTicketsParams) iter.Seq2[TicketSummary, error] {
	return func(yield func(TicketSummary, error) bool) {
		for {
			resp, err := t.ListTicketsWithResponse(ctx, &params)
			if err == nil {
				err = Check(resp.HTTPResponse, resp.Body)
			}
			if err != nil {
				yield(TicketSummary{}, err)
				return
			}
			for _, item := range resp.JSON200.Items {
				if !yield(item, nil) {
					return
				}
			}
			if resp.JSON200.NextPageToken == nil {
				return
			}
			params.PageToken = resp.JSON200.NextPageToken
		}
	}
}
