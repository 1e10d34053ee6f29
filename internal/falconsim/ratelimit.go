package falconsim

import (
	"context"
	"math"
	"time"
)

// unlimitedLimit is advertised in X-Ratelimit-Limit when rate limiting is
// off (Falcon's usual per-minute quota).
const unlimitedLimit = 6000

// bucket is the tenant's rate limit: a token bucket refilled continuously
// at perMinute a minute. It is guarded by Sim.mu. Answers say the limit a
// minute (X-Ratelimit-Limit) and the tokens left (X-Ratelimit-Remaining).
type bucket struct {
	perMinute int
	capacity  float64
	rate      float64 // tokens per second
	tokens    float64
	last      time.Time
}

// rateResult is the outcome of a rate-limit check.
type rateResult struct {
	allowed    bool
	limit      int
	remaining  int
	retryAfter int64 // unix seconds; set when !allowed
}

// epsilon absorbs float rounding so a request arriving exactly at the
// advertised retry second is never refused.
const epsilon = 1e-6

// newBucket refills perMinute tokens a minute and holds at most burst
// (perMinute when burst is 0): a small burst makes the limit bind at once.
func newBucket(perMinute, burst int, now time.Time) *bucket {
	if perMinute <= 0 {
		return nil
	}
	c := float64(perMinute)
	if burst > 0 {
		c = float64(burst)
	}
	return &bucket{perMinute: perMinute, capacity: c, rate: float64(perMinute) / 60, tokens: c, last: now}
}

func (b *bucket) take(now time.Time) rateResult {
	if b == nil {
		return rateResult{allowed: true, limit: unlimitedLimit, remaining: unlimitedLimit - 1}
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(b.capacity, b.tokens+el*b.rate)
		b.last = now
	}
	res := rateResult{limit: b.perMinute}
	if b.tokens >= 1-epsilon {
		b.tokens = math.Max(0, b.tokens-1)
		res.allowed = true
		res.remaining = int(math.Floor(b.tokens + epsilon))
		return res
	}
	// Time at which one whole token is available, rounded up to a second:
	// a request at or after that second finds >= 1 token (absent others).
	wait := (1 - b.tokens) / b.rate
	at := now.Add(time.Duration(wait * float64(time.Second)))
	res.retryAfter = int64(math.Ceil(float64(at.UnixNano()) / 1e9))
	return res
}

// takeRateLimit consumes one request from the global bucket.
func (s *Sim) takeRateLimit() rateResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bucket.take(time.Now())
}

// Background is another integration of the same tenant (a SIEM connector, a
// SOAR playbook) spending the tenant's rate limit: perMinute requests a
// minute, evenly spaced, until ctx ends. Its answers of 429 are counted in
// Stats.BackgroundRateLimited (it does not retry).
func (s *Sim) Background(ctx context.Context, perMinute int) {
	if perMinute <= 0 {
		return
	}
	tick := time.NewTicker(time.Minute / time.Duration(perMinute))
	go func() {
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				rl := s.takeRateLimit()
				s.mu.Lock()
				s.stats.BackgroundRequests++
				if !rl.allowed {
					s.stats.BackgroundRateLimited++
				}
				s.mu.Unlock()
			}
		}
	}()
}
