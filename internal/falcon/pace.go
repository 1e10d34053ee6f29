package falcon

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// pacer keeps this tool a good citizen of the tenant's API rate limit,
// which the customer's other integrations (SIEM connector, SOAR playbooks)
// draw on too. It learns the limit from the headers every answer carries —
// X-Ratelimit-Limit (requests a minute) and X-Ratelimit-Remaining — and
// paces every request of the client, reads and writes alike, by two rules:
//
//   - a token bucket (golang.org/x/time/rate) refilled at share x the
//     tenant's limit, holding share x the tenant's bucket: the tool's own
//     use stays at or below its share, yet a short run (a no-op reconcile)
//     is not slowed;
//   - the tenant's Remaining is not taken below the others' part of the
//     bucket, (1 - share) x its size, plus a margin that is never more than
//     half the tool's own part (see floor): when others use more than their
//     part the level falls, and the tool waits for the bucket to refill
//     instead of taking what is left. Every share makes progress: once the
//     bucket is full again the tool may always send, however small its
//     share (a share smaller than one request of the bucket takes from a
//     full bucket only).
//
// A 429's X-RateLimit-RetryAfter still wins (transport), and
// MAX_CONCURRENCY stays a ceiling: the pacer decides the pace. Until an
// answer has told the limit, nothing is paced. now and sleep are the
// pacer's clock (tests drive it by hand).
type pacer struct {
	share float64
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu       sync.Mutex
	limiter  *rate.Limiter // nil until the limit is known
	perMin   float64       // the tenant's limit: X-Ratelimit-Limit
	perSec   float64       // its refill: perMin / 60
	capacity float64       // the tenant's bucket as seen: the largest Remaining
	level    float64       // the last Remaining seen
	seenAt   time.Time     // when
	inFlight int           // requests sent, not answered: not yet in level
}

func newPacer(share float64) *pacer {
	if share <= 0 || share > 1 {
		share = 1
	}
	return &pacer{share: share, now: time.Now, sleep: sleepCtx}
}

// wait blocks until a request may be sent, and counts it as sent: first
// its turn in the tool's own bucket, then room above the others' reserve.
// With a write deadline in ctx, a wait that would end after it is not
// started: onboard.ErrNotSent.
func (p *pacer) wait(ctx context.Context) error {
	deadline, hasDeadline := onboard.WriteDeadline(ctx)
	var r *rate.Reservation
	var delay time.Duration
	if lim := p.limiterOrNil(); lim != nil {
		now := p.now()
		r = lim.ReserveN(now, 1)
		delay = r.DelayFrom(now)
	}
	for {
		if delay > 0 {
			if hasDeadline && p.now().Add(delay).After(deadline) {
				p.cancel(r)
				return onboard.ErrNotSent
			}
			if err := p.sleep(ctx, delay); err != nil {
				p.cancel(r)
				return err
			}
		}
		if delay = p.claim(); delay == 0 {
			return nil
		}
	}
}

// cancel gives back the tokens of a reservation not used.
func (p *pacer) cancel(r *rate.Reservation) {
	if r != nil {
		r.CancelAt(p.now())
	}
}

func (p *pacer) limiterOrNil() *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.limiter
}

// claim counts one request as sent and returns 0 when the tenant's bucket
// is, by estimate, above the floor; otherwise it claims nothing and returns
// how long until it should be.
func (p *pacer) claim() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limiter != nil {
		floor := p.floor()
		if est := p.estimate(); est <= floor {
			return time.Duration((floor - est + 1) / p.perSec * float64(time.Second))
		}
	}
	p.inFlight++
	return 0
}

// floor is the level of the tenant's bucket the tool does not take it
// below: the others' part, (1 - share) x the bucket, and a margin for their
// requests in flight — 5% of the bucket (at least one request) but never
// more than half the tool's own part, which would leave it nothing. And
// never at or above the most the bucket refills to: from a full bucket the
// tool may always take one, so every share makes progress. Caller holds mu.
func (p *pacer) floor() float64 {
	own := p.share * p.capacity
	margin := min(max(1, 0.05*p.capacity), own/2)
	return min(p.capacity-own+margin, p.ceiling()-1)
}

// ceiling is the most the tenant's bucket is estimated to refill to: a
// minute's limit, or the largest Remaining seen if that is more. Caller
// holds mu.
func (p *pacer) ceiling() float64 { return max(p.perMin, p.capacity) }

// estimate is the tenant's Remaining now: the last one seen, refilled since
// at the tenant's rate, less the requests in flight. The refill is capped at
// the ceiling, not at the bucket seen so far, which may be an underestimate
// (a first answer from a drained tenant); the next answer corrects the
// estimate. Caller holds mu.
func (p *pacer) estimate() float64 {
	refilled := p.level + p.now().Sub(p.seenAt).Seconds()*p.perSec
	return math.Min(refilled, p.ceiling()) - float64(p.inFlight)
}

// done records a request's answer (nil when none came); its rate-limit
// headers set the pace from now on.
func (p *pacer) done(resp *http.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight = max(p.inFlight-1, 0)
	if resp == nil {
		return
	}
	limit, err1 := strconv.ParseFloat(resp.Header.Get("X-Ratelimit-Limit"), 64)
	remaining, err2 := strconv.ParseFloat(resp.Header.Get("X-Ratelimit-Remaining"), 64)
	if err1 != nil || err2 != nil || limit <= 0 || remaining < 0 {
		return // an answer without the headers says nothing new
	}
	now := p.now()
	p.level, p.seenAt = remaining, now
	p.capacity = max(p.capacity, remaining)
	perSec, burst := limit/60, int(max(1, p.share*p.capacity))
	switch {
	case p.limiter == nil:
		p.limiter = rate.NewLimiter(rate.Limit(p.share*perSec), burst) // a new limiter starts full
	case perSec != p.perSec:
		p.limiter.SetLimitAt(now, rate.Limit(p.share*perSec))
	}
	if burst != p.limiter.Burst() {
		p.limiter.SetBurstAt(now, burst)
	}
	p.perMin, p.perSec = limit, perSec
}
