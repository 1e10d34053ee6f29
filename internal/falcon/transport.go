package falcon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Retry limits. A 429 is retried often (it says "not processed, come back
// at"); a 5xx on an idempotent request a few times with backoff.
const (
	max429Retries = 30
	max5xxRetries = 3
	maxWait       = 60 * time.Second
)

// transport paces and counts requests and retries what is safe to retry.
type transport struct {
	next        http.RoundTripper
	pace        *pacer
	calls       atomic.Int64 // HTTP requests sent, retries included
	rateLimited atomic.Int64 // 429 answers received
	sleep       func(context.Context, time.Duration) error
}

func newTransport(next http.RoundTripper, share float64) *transport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{next: next, pace: newPacer(share), sleep: sleepCtx}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := rewindable(req); err != nil {
		return nil, err
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		try := req
		if attempt > 0 && req.GetBody != nil {
			try = req.Clone(ctx)
			try.Body, _ = req.GetBody()
		}
		if err := t.pace.wait(ctx); err != nil {
			return nil, err
		}
		t.calls.Add(1)
		resp, err := t.next.RoundTrip(try)
		t.pace.done(resp)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, err
			}
			// The one place a failure to reach Falcon is named for a person.
			ce := connectionError(req.URL.Host, err)
			if ce != nil {
				err = ce
			}
			if !idempotent(req) || attempt >= max5xxRetries || (ce != nil && ce.lasting) {
				return nil, err
			}
			wait = backoff(attempt)
		case resp.StatusCode == http.StatusTooManyRequests:
			t.rateLimited.Add(1)
			if attempt >= max429Retries {
				return resp, nil
			}
			wait = retryAfter(resp.Header, time.Now())
			if d, ok := onboard.WriteDeadline(ctx); ok && time.Now().Add(wait).After(d) {
				// Not processed, and no time to send it again: the write
				// is left for the next run, not reported as failed.
				discard(resp)
				return nil, onboard.ErrNotSent
			}
		case resp.StatusCode >= 500 && idempotent(req) && attempt < max5xxRetries:
			wait = backoff(attempt)
		default:
			return jsonError(resp), nil
		}
		if resp != nil {
			discard(resp)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// idempotent requests may be repeated after a 5xx or a lost connection. POST
// may not: a create that failed may still have happened. The token endpoint
// is the exception — asking for another token is harmless.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
		return true
	}
	return req.URL.Path == "/oauth2/token"
}

// retryAfter honours X-RateLimit-RetryAfter (Unix epoch seconds), with a
// little jitter so parallel workers do not return in one burst.
func retryAfter(h http.Header, now time.Time) time.Duration {
	jitter := time.Duration(rand.Int64N(int64(100 * time.Millisecond)))
	epoch, err := strconv.ParseInt(h.Get("X-Ratelimit-Retryafter"), 10, 64)
	if err != nil {
		return time.Second + jitter
	}
	return min(max(time.Unix(epoch, 0).Sub(now), 0)+jitter, maxWait)
}

func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << attempt
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// discard drains (a little of) an answer that will not be read, so its
// connection can be reused.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}

// rewindable buffers a request body so it can be sent again.
func rewindable(req *http.Request) error {
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		return nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return err
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	req.Body, _ = req.GetBody()
	return nil
}

// jsonError rewrites a non-JSON error answer (a proxy's or gateway's HTML
// page) as a Falcon JSON error, so its status is kept: gofalcon could not
// decode it, and a 403 page must still read as access denied.
func jsonError(resp *http.Response) *http.Response {
	if resp.StatusCode < 400 || strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return resp
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	msg, _ := json.Marshal(http.StatusText(resp.StatusCode) + " (non-JSON answer: " + strings.TrimSpace(string(b)) + ")")
	resp.Body = io.NopCloser(strings.NewReader(`{"meta":{},"errors":[{"code":` + strconv.Itoa(resp.StatusCode) + `,"message":` + string(msg) + `}]}`))
	resp.Header.Set("Content-Type", "application/json")
	resp.ContentLength = -1
	return resp
}
