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
//   - the tenant's Remaining is never taken below the others' reserve,
//     (1 - share) x its bucket, plus a small margin: when others use more
//     than their part the level falls, and the tool waits for the bucket to
//     refill instead of taking what is left.
//
// A 429's X-RateLimit-RetryAfter still wins (transport), and
// MAX_CONCURRENCY stays a ceiling: the pacer decides the pace. Until an
// answer has told the limit, nothing is paced.
type pacer struct {
	share float64
	now   func() time.Time

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
	return &pacer{share: share, now: time.Now}
}

// wait blocks until a request may be sent, and counts it as sent. With a
// write deadline in ctx, a wait that would end after it is not started:
// onboard.ErrNotSent.
func (p *pacer) wait(ctx context.Context) error {
	deadline, hasDeadline := onboard.WriteDeadline(ctx)
	var r *rate.Reservation
	if lim := p.limiterOrNil(); lim != nil {
		r = lim.Reserve()
	}
	for first := true; ; first = false {
		delay := p.claim()
		if first && r != nil {
			delay = max(delay, r.Delay())
		}
		if delay <= 0 {
			return nil
		}
		if hasDeadline && p.now().Add(delay).After(deadline) {
			cancel(r)
			return onboard.ErrNotSent
		}
		if err := sleepCtx(ctx, delay); err != nil {
			cancel(r)
			return err
		}
	}
}

// cancel gives back the tokens of a reservation not used.
func cancel(r *rate.Reservation) {
	if r != nil {
		r.Cancel()
	}
}

func (p *pacer) limiterOrNil() *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.limiter
}

// claim counts one request as sent and returns 0 when the tenant's bucket
// is, by estimate, above the others' reserve and the margin; otherwise it
// claims nothing and returns how long until it should be.
func (p *pacer) claim() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limiter != nil {
		reserve := (1-p.share)*p.capacity + max(1, 0.05*p.capacity)
		if est := p.estimate(); est <= reserve {
			return time.Duration((reserve - est + 1) / p.perSec * float64(time.Second))
		}
	}
	p.inFlight++
	return 0
}

// estimate is the tenant's Remaining now: the last one seen, refilled since
// at the tenant's rate, less the requests in flight. The refill is capped at
// a minute's limit, not at the bucket seen so far, which may be an
// underestimate (a first answer from a drained tenant); the next answer
// corrects the estimate. Caller holds mu.
func (p *pacer) estimate() float64 {
	refilled := p.level + p.now().Sub(p.seenAt).Seconds()*p.perSec
	return math.Min(refilled, p.perMin) - float64(p.inFlight)
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
	p.level, p.seenAt = remaining, p.now()
	p.capacity = max(p.capacity, remaining)
	perSec, burst := limit/60, int(max(1, p.share*p.capacity))
	switch {
	case p.limiter == nil:
		p.limiter = rate.NewLimiter(rate.Limit(p.share*perSec), burst) // a new limiter starts full
	case perSec != p.perSec:
		p.limiter.SetLimit(rate.Limit(p.share * perSec))
	}
	if burst != p.limiter.Burst() {
		p.limiter.SetBurst(burst)
	}
	p.perMin, p.perSec = limit, perSec
}
