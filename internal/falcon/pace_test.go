package falcon

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// clock is a manual clock for the pacer's estimates.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func answer(limit, remaining int) *http.Response {
	h := http.Header{}
	h.Set("X-Ratelimit-Limit", strconv.Itoa(limit))
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(remaining))
	return &http.Response{Header: h}
}

func TestPacerUnpacedUntilAnAnswerTellsTheLimit(t *testing.T) {
	p := newPacer(0.5)
	for range 100 {
		require.Zero(t, p.claim())
	}
	p.done(&http.Response{Header: http.Header{}}) // no headers: still nothing known
	assert.Nil(t, p.limiterOrNil())
}

// The tool's own use: a bucket at share x the limit, holding share x the
// tenant's bucket — so a short run is not slowed, a long one is paced.
func TestPacerOwnShare(t *testing.T) {
	p := newPacer(0.5)
	p.done(answer(6000, 5999)) // a tenant with its whole budget free
	lim := p.limiterOrNil()
	require.NotNil(t, lim)
	assert.EqualValues(t, 50, lim.Limit(), "half of 6,000 a minute, per second")
	assert.Equal(t, 2999, lim.Burst(), "half of the tenant's bucket")
	t0 := time.Now()
	assert.True(t, lim.AllowN(t0, 2999), "a short run goes at full speed")
	assert.Equal(t, 20*time.Millisecond, lim.ReserveN(t0, 1).DelayFrom(t0), "then 50 a second")
}

// The others' reserve: the tenant's Remaining is not taken below
// (1-share) x its bucket plus a margin; when others use more, the tool waits
// for the refill.
func TestPacerLeavesTheOthersTheirReserve(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := newPacer(0.5)
	p.now = c.now
	p.done(answer(6000, 100)) // a bucket of 100, refilled at 100/s
	reserve := 50 + 5
	for i := range 100 - reserve {
		require.Zero(t, p.claim(), "request %d: above the reserve", i)
	}
	wait := p.claim()
	assert.Positive(t, wait, "in flight, the estimate reached the reserve")
	for range 44 {
		p.done(answer(6000, 40)) // others spent the budget meanwhile
	}
	assert.Greater(t, p.claim(), wait, "below the reserve: wait for the refill")
	c.advance(time.Second) // refilled (100/s), capped at the bucket
	assert.Zero(t, p.claim())

	// share 1: nothing is reserved but the margin.
	p = newPacer(1)
	p.now = c.now
	p.done(answer(6000, 100))
	for range 95 {
		require.Zero(t, p.claim())
	}
	assert.Positive(t, p.claim())
}

// A wait that would end after the write deadline is not started.
func TestPacerNotSentPastTheWriteDeadline(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := newPacer(1)
	p.now = c.now
	p.done(answer(60, 0)) // one request a second, nothing left
	ctx := onboard.WithWriteDeadline(context.Background(), c.t.Add(100*time.Millisecond))
	assert.ErrorIs(t, p.wait(ctx), onboard.ErrNotSent)
	assert.Zero(t, p.inFlight, "nothing claimed")
}

// A request that waited its turn in the tool's own bucket is counted in
// flight once, not once per wait: otherwise the estimate of the tenant's
// Remaining sinks with every paced request and the tool slows for nothing.
func TestPacerCountsAPacedRequestOnce(t *testing.T) {
	p := newPacer(0.5)
	p.done(answer(6000, 100)) // own bucket: 50 a second, burst 50
	ctx := context.Background()
	for range 60 { // past the burst: the last 10 wait their turn
		require.NoError(t, p.wait(ctx))
		p.done(answer(6000, 99))
	}
	assert.Zero(t, p.inFlight)
}
