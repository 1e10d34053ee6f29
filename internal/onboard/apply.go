package onboard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Retry is how a create that Falcon answered "failed to validate registry
// credential" (ErrCredentialRejected) is sent again within a run: Falcon
// validates the credential by assuming the role, and right after a person
// changed the role's trust policy IAM may not have propagated the change
// yet. Attempts sends after the first, Wait apart; a send that would start
// after the write deadline is not made.
type Retry struct {
	Attempts int
	Wait     time.Duration
}

// RetryStep is how far apart a rejected create is sent again (RetryWithin).
const RetryStep = 15 * time.Second

// RetryWithin is the Retry that keeps sending a rejected create for window:
// every RetryStep (every window, when shorter). Zero or less: never.
func RetryWithin(window time.Duration) Retry {
	if window <= 0 {
		return Retry{}
	}
	step := min(window, RetryStep)
	return Retry{Attempts: int((window + step - 1) / step), Wait: step}
}

// outcome of one planned action.
type outcome struct {
	attempted bool
	id        string // registry ID after create
	existed   bool   // create found the registry already there (409, or listed with another alias)
	notOwned  bool   // and what was there is not the owner's
	err       error
}

// applier runs a plan's writes with bounded concurrency.
type applier struct {
	falcon      Falcon
	concurrency int
	stopAt      time.Time // start no write after this (zero: no limit)
	progress    func(Progress)
	owner       Owner
	retry       Retry     // of a create whose credential Falcon rejected
	verdicts    *verdicts // what Falcon said of each credential in this run
}

// verdicts remembers the credentials (by fingerprint) Falcon accepted for
// a create in this run: a rejection of one of them is transient, and once
// one is accepted, its other registries are worth sending again.
type verdicts struct {
	mu sync.Mutex
	ok map[string]bool
}

func newVerdicts() *verdicts { return &verdicts{ok: map[string]bool{}} }

func (v *verdicts) note(fp string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ok[fp] = true
}

func (v *verdicts) accepted(fp string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.ok[fp]
}

// rejection is a create Falcon still answered "failed to validate registry
// credential" after the retries the run could make: what was tried, for
// the hint (see hint).
type rejection struct {
	err     error
	sends   int           // of this create
	span    time.Duration // from the first send to the last
	cut     bool          // the write deadline left no time for the next send
	retried bool          // the same credential was rejected after every retry already
	// accepted: Falcon accepted the same credential for another registry in
	// this run, so the trust policy lets it in.
	accepted bool
}

func (r *rejection) Error() string { return r.err.Error() }
func (r *rejection) Unwrap() error { return r.err }

func (ap applier) stopping(ctx context.Context) bool {
	return ctx.Err() != nil || (!ap.stopAt.IsZero() && time.Now().After(ap.stopAt))
}

// apply executes the plan and returns one outcome per action, and the first
// fatal error (access denied), after which no new write starts. Creates
// whose credential Falcon rejected are sent again once every other write
// is done (retryRejected), so waiting for a trust policy to propagate never
// holds a write slot another registry could use.
func (ap applier) apply(ctx context.Context, actions []Action) ([]outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		out   = make([]outcome, len(actions))
		done  atomic.Int64
		fatal error
		once  sync.Once
	)
	all := make([]int, len(actions))
	for i := range all {
		all[i] = i
	}
	ap.each(ctx, all, func(i int) {
		out[i] = ap.safeDo(ctx, actions[i])
		if errors.Is(out[i].err, ErrAccessDenied) {
			once.Do(func() { fatal = out[i].err; cancel() })
		}
		ap.progress(Progress{Stage: StageWrite, Done: int(done.Add(1)), Total: len(actions)})
	})
	if fatal != nil {
		return out, fatal
	}
	ap.retryRejected(ctx, actions, out)
	ap.confirmCreates(ctx, actions, out)
	return out, nil
}

// each runs fn for each of idx, at most ap.concurrency at a time, and
// starts none once the run is stopping.
func (ap applier) each(ctx context.Context, idx []int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(ap.concurrency, 1))
	for _, i := range idx {
		sem <- struct{}{}
		if ap.stopping(ctx) {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// safeDo is do, with a panic (a bug) the action's error: a panic in a
// worker goroutine would otherwise end the process before any report or
// answer.
func (ap applier) safeDo(ctx context.Context, a Action) (o outcome) {
	if err := safely(func() { o = ap.do(ctx, a) }); err != nil {
		return outcome{attempted: true, err: err}
	}
	return o
}

func (ap applier) do(ctx context.Context, a Action) outcome {
	if !ap.stopAt.IsZero() {
		ctx = WithWriteDeadline(ctx, ap.stopAt)
	}
	o := outcome{attempted: true}
	switch a.Kind {
	case Create:
		o.id, o.err = ap.falcon.CreateRegistry(ctx, a.Registry)
		if o.err == nil {
			ap.verdicts.note(a.Registry.Credential.Fingerprint())
		}
	case Update:
		o.err = ap.falcon.UpdateRegistry(ctx, a.Registry)
	case Delete:
		o.err = ap.falcon.DeleteRegistry(ctx, a.Registry)
	}
	if errors.Is(o.err, ErrNotSent) {
		return outcome{} // not processed: left for the next run
	}
	return o
}

// retryRejected sends again, in rounds ap.retry.Wait apart, the creates
// Falcon answered "failed to validate registry credential": right after a
// trust policy changed, IAM may not have propagated it yet. Each round
// sends one create per credential (role and external ID) still rejected,
// and, once Falcon accepts a credential, its other registries; after
// ap.retry.Attempts rounds, or when the next would start after the write
// deadline, what is still rejected stays so, as a *rejection saying what
// was tried. A wait costs the run its length once, however many creates
// wait, and an account whose role never lets Falcon in costs one create a
// round.
func (ap applier) retryRejected(ctx context.Context, actions []Action, out []outcome) {
	rejected := func() (first, rest []int) {
		seen := map[string]bool{}
		for i, a := range actions {
			if a.Kind != Create || !errors.Is(out[i].err, ErrCredentialRejected) {
				continue
			}
			if fp := a.Registry.Credential.Fingerprint(); !seen[fp] {
				seen[fp] = true
				first = append(first, i)
			} else {
				rest = append(rest, i)
			}
		}
		return first, rest
	}
	sends := make([]int, len(actions))
	resend := func(idx []int) {
		ap.each(ctx, idx, func(i int) {
			if o := ap.safeDo(ctx, actions[i]); o.attempted {
				out[i] = o
				sends[i]++
			}
		})
	}
	rounds, cut := 0, false
	for ; rounds < ap.retry.Attempts; rounds++ {
		first, _ := rejected()
		if len(first) == 0 {
			break
		}
		if !ap.stopAt.IsZero() && time.Now().Add(ap.retry.Wait).After(ap.stopAt) {
			cut = true
			break
		}
		if sleep(ctx, ap.retry.Wait) != nil {
			break
		}
		resend(first)
		var accepted []int // the other registries of credentials Falcon now accepts
		_, rest := rejected()
		for _, i := range rest {
			if ap.verdicts.accepted(actions[i].Registry.Credential.Fingerprint()) {
				accepted = append(accepted, i)
			}
		}
		resend(accepted)
	}
	for i, a := range actions {
		if a.Kind != Create || !errors.Is(out[i].err, ErrCredentialRejected) {
			continue
		}
		out[i].err = &rejection{err: out[i].err, sends: 1 + sends[i], span: time.Duration(sends[i]) * ap.retry.Wait,
			cut: cut, retried: rounds > 0 && sends[i] == 0, accepted: ap.verdicts.accepted(a.Registry.Credential.Fingerprint())}
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// confirmCreates settles creates that answered 409, an uncertain error or a
// rejected credential by listing registries once: a registry that is there
// now was created (by this request before it failed, or concurrently by
// another run; Falcon may also keep the record of a create it answered
// "failed to validate registry credential") and is never created twice.
// One that is not there after an uncertain error is created once more, now
// that its absence is known; after a rejection it stays failed.
func (ap applier) confirmCreates(ctx context.Context, actions []Action, out []outcome) {
	var unsure []int
	for i, a := range actions {
		if a.Kind == Create && (errors.Is(out[i].err, ErrExists) || errors.Is(out[i].err, ErrUncertain) || errors.Is(out[i].err, ErrCredentialRejected)) {
			unsure = append(unsure, i)
		}
	}
	if len(unsure) == 0 {
		return
	}
	listed, err := ap.falcon.Registries(ctx)
	if err != nil {
		for _, i := range unsure {
			out[i].err = fmt.Errorf("%w (re-listing registries to confirm failed: %v)", out[i].err, err)
		}
		return
	}
	existing := indexRegistrations(listed, ap.owner)
	for _, i := range unsure {
		r := actions[i].Registry
		if have := existing.of(r.AccountID, r.Region).cover; have != nil {
			out[i] = settled(r, *have, out[i].err, ap.owner)
			continue
		}
		if errors.Is(out[i].err, ErrExists) {
			out[i].err = fmt.Errorf("%w, yet it is not listed", out[i].err)
			continue
		}
		if !errors.Is(out[i].err, ErrUncertain) || ap.stopping(ctx) {
			continue
		}
		switch o := ap.do(ctx, actions[i]); {
		case errors.Is(o.err, ErrExists):
			out[i] = outcome{attempted: true, existed: true}
		case o.attempted && o.err != nil:
			out[i].err = o.err
		default:
			out[i] = o
		}
	}
}

// settled is the outcome of a create of want whose answer (err) did not
// say it happened, now that have is listed for its URL. It was this run's
// create only if have carries the alias the create sent and Falcon did not
// answer that it existed (409). Anything else was there already: a 200
// without a registry, which Falcon answers to a create of a URL it has
// (CrowdStrike's Terraform provider accepts an empty 200), is reported as
// existing, never as created with somebody else's registry ID.
func settled(want, have Registry, err error, owner Owner) outcome {
	if have.Alias == want.Alias && !errors.Is(err, ErrExists) {
		return outcome{attempted: true, id: have.ID}
	}
	return outcome{attempted: true, existed: true, notOwned: !owner.Owns(have)}
}

// safely runs fn, turning a panic into an error: a panic in a worker
// goroutine would otherwise end the process before any report or answer.
func safely(fn func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	fn()
	return nil
}
