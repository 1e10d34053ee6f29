package falcon

import (
	"context"
	"fmt"
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

// tenant is a model of the tenant's rate limit for driving the pacer with a
// manual clock: a token bucket of capacity requests refilled at perMin a
// minute, which the tenant's other integrations draw on at othersPerMin.
type tenant struct {
	perMin, capacity, othersPerMin float64
	tokens                         float64
	last                           time.Time
	rateLimited, othersLimited     int
	sent                           int
	othersDue                      float64 // others' requests accrued, not yet taken
}

func (tn *tenant) refill(now time.Time) {
	dt := now.Sub(tn.last).Seconds()
	tn.last = now
	// The others' requests arrive evenly between answers, interleaved with
	// the refill a second at a time (whole requests only).
	for dt > 0 {
		step := min(dt, 1)
		dt -= step
		tn.tokens = min(tn.capacity, tn.tokens+step*tn.perMin/60)
		for tn.othersDue += step * tn.othersPerMin / 60; tn.othersDue >= 1; tn.othersDue-- {
			if tn.tokens >= 1 {
				tn.tokens--
			} else {
				tn.othersLimited++
			}
		}
	}
}

// take is one request of the tool at now: its answer's headers.
func (tn *tenant) take(now time.Time) *http.Response {
	tn.sent++
	tn.refill(now)
	if tn.tokens < 1 {
		tn.rateLimited++
	} else {
		tn.tokens--
	}
	return answer(int(tn.perMin), int(tn.tokens))
}

// Every share the configuration accepts (0 < x <= 1) makes progress, at
// about its share of the tenant's limit, without a 429 for the tool or for
// the others spending less than their part: over shares from 0.001 to 1,
// tenant limits from 60 to 60,000 a minute, a full minute's bucket or a
// small one. Driven with a manual clock: the pacer's waits advance it.
func TestPacerEveryAcceptedShareMakesProgress(t *testing.T) {
	for _, share := range []float64{0.001, 0.005, 0.01, 0.049, 0.05, 0.1, 0.25, 0.5, 0.9, 0.999, 1} {
		for _, perMin := range []float64{60, 600, 6000, 60000} {
			for _, bucket := range []string{"minute", "small"} {
				for _, others := range []bool{false, true} {
					name := fmt.Sprintf("share=%v/limit=%v/bucket=%s/others=%t", share, perMin, bucket, others)
					t.Run(name, func(t *testing.T) {
						paceOneRun(t, share, perMin, bucket == "small", others)
					})
				}
			}
		}
	}
}

func paceOneRun(t *testing.T, share, perMin float64, smallBucket, others bool) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	capacity := perMin
	if smallBucket {
		capacity = max(10, perMin/60) // a second's refill, at least 10
	}
	tn := &tenant{perMin: perMin, capacity: capacity, tokens: capacity, last: c.t}
	if others {
		// The others spend 90% of their part, evenly.
		tn.othersPerMin = 0.9 * (1 - share) * perMin
	}
	const latency = 20 * time.Millisecond
	ownBurst := max(1, share*capacity)
	const paced = 50 // requests past the tool's own burst
	n := int(ownBurst) + paced
	// The tool's own rate is share x the limit; allow a quarter more, and a
	// bucket's refill, before calling it stuck.
	budget := time.Duration((float64(paced)/(share*perMin/60)*1.25 + capacity/(perMin/60) + 1) * float64(time.Second))
	start := c.t
	p := newPacer(share)
	p.now = c.now
	p.sleep = func(_ context.Context, d time.Duration) error {
		c.advance(d)
		if c.t.Sub(start) > budget {
			return fmt.Errorf("no progress: %d requests sent in %s", tn.sent, c.t.Sub(start))
		}
		return nil
	}
	for i := range n {
		require.NoError(t, p.wait(context.Background()), "request %d of %d", i, n)
		c.advance(latency)
		p.done(tn.take(c.t))
	}
	assert.Zero(t, tn.rateLimited, "the tool met no 429")
	assert.Zero(t, tn.othersLimited, "the others, spending less than their part, met no 429")
	// A token bucket's bound: at most its burst and its rate since the start.
	elapsed := c.t.Sub(start).Seconds()
	assert.LessOrEqual(t, float64(n), ownBurst+share*perMin/60*elapsed+1, "paced at its share over %.0f s", elapsed)
}
