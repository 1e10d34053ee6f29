package falcon

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// scripted answers with the given statuses in turn and records bodies.
func scripted(t *testing.T, statuses ...int) (*httptest.Server, *[]string) {
	var bodies []string
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		code := statuses[min(i, len(statuses)-1)]
		i++
		if code == http.StatusTooManyRequests {
			w.Header().Set("X-RateLimit-RetryAfter", strconv.FormatInt(time.Now().Unix(), 10))
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, &bodies
}

func send(t *testing.T, tr *transport, method, url, body string) int {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func noSleep(tr *transport) *transport {
	tr.sleep = func(context.Context, time.Duration) error { return nil }
	return tr
}

func TestRateLimitedRequestsAreRetriedWithTheirBody(t *testing.T) {
	srv, bodies := scripted(t, 429, 429, 201)
	tr := noSleep(newTransport(nil, 1))
	assert.Equal(t, 201, send(t, tr, http.MethodPost, srv.URL+"/container-security/entities/registries/v1", `{"url":"x"}`))
	assert.Equal(t, []string{`{"url":"x"}`, `{"url":"x"}`, `{"url":"x"}`}, *bodies, "a 429 was not processed: safe to resend")
	assert.EqualValues(t, 3, tr.calls.Load())
	assert.EqualValues(t, 2, tr.rateLimited.Load())
}

func TestCreateIsNeverRepeatedOn5xx(t *testing.T) {
	srv, bodies := scripted(t, 502, 201)
	tr := noSleep(newTransport(nil, 1))
	assert.Equal(t, 502, send(t, tr, http.MethodPost, srv.URL+"/container-security/entities/registries/v1", `{}`))
	assert.Len(t, *bodies, 1)
}

func TestIdempotentRequestsAreRetriedOn5xx(t *testing.T) {
	for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
		srv, bodies := scripted(t, 500, 503, 200)
		tr := noSleep(newTransport(nil, 1))
		assert.Equal(t, 200, send(t, tr, m, srv.URL+"/x", ""), m)
		assert.Len(t, *bodies, 3, m)
	}
	srv, bodies := scripted(t, 500)
	tr := noSleep(newTransport(nil, 1))
	assert.Equal(t, 500, send(t, tr, http.MethodGet, srv.URL+"/x", ""), "gives up after the retry limit")
	assert.Len(t, *bodies, 1+max5xxRetries)

	srv, bodies = scripted(t, 500, 201)
	assert.Equal(t, 201, send(t, noSleep(newTransport(nil, 1)), http.MethodPost, srv.URL+"/oauth2/token", "grant_type=client_credentials"))
	assert.Len(t, *bodies, 2, "asking for a token again is harmless")
}

func TestRetryAfterHonoursTheEpochHeader(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	h := http.Header{}
	h.Set("X-RateLimit-RetryAfter", "1000003")
	d := retryAfter(h, now)
	assert.GreaterOrEqual(t, d, 3*time.Second)
	assert.Less(t, d, 3*time.Second+100*time.Millisecond)

	h.Set("X-RateLimit-RetryAfter", "999990") // in the past: go now
	assert.Less(t, retryAfter(h, now), 100*time.Millisecond)
	h.Set("X-RateLimit-RetryAfter", "4000000000") // absurd: capped
	assert.LessOrEqual(t, retryAfter(h, now), maxWait)
	assert.GreaterOrEqual(t, retryAfter(http.Header{}, now), time.Second, "no header: wait a second")
}

// A write answered 429 whose retry time falls after the write deadline is
// not sent again, and not waited for: it is left for the next run.
func TestWriteRateLimitedPastTheWriteDeadlineIsNotSent(t *testing.T) {
	var sent int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent++
		w.Header().Set("X-RateLimit-RetryAfter", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	tr := newTransport(nil, 1)
	tr.sleep = func(context.Context, time.Duration) error { t.Fatal("waited"); return nil }
	ctx := onboard.WithWriteDeadline(context.Background(), time.Now().Add(time.Minute))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/container-security/entities/registries/v1", strings.NewReader("{}"))
	require.NoError(t, err)

	_, err = tr.RoundTrip(req)

	assert.ErrorIs(t, err, onboard.ErrNotSent)
	assert.Equal(t, 1, sent)
	assert.EqualValues(t, 1, tr.rateLimited.Load())
}
