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

// verdicts remembers, by credential fingerprint, what Falcon said of a
// credential in this run: accepted (a create with it succeeded) or
// rejected after every retry — then the account's other registries are
// sent once each, not retried again for the same answer.
type verdicts struct {
	mu                 sync.Mutex
	accepted, rejected map[string]bool
}

func newVerdicts() *verdicts {
	return &verdicts{accepted: map[string]bool{}, rejected: map[string]bool{}}
}

func (v *verdicts) note(fp string, accepted bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if accepted {
		v.accepted[fp] = true
	} else {
		v.rejected[fp] = true
	}
}

func (v *verdicts) was(fp string) (accepted, rejected bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.accepted[fp], v.rejected[fp]
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
// fatal error (access denied), after which no new write starts.
func (ap applier) apply(ctx context.Context, actions []Action) ([]outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		out   = make([]outcome, len(actions))
		wg    sync.WaitGroup
		sem   = make(chan struct{}, max(ap.concurrency, 1))
		done  atomic.Int64
		fatal error
		once  sync.Once
	)
	for i, a := range actions {
		sem <- struct{}{}
		if ap.stopping(ctx) {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := safely(func() { out[i] = ap.do(ctx, a) }); err != nil {
				out[i] = outcome{attempted: true, err: err}
			}
			if errors.Is(out[i].err, ErrAccessDenied) {
				once.Do(func() { fatal = out[i].err; cancel() })
			}
			ap.progress(Progress{Stage: StageWrite, Done: int(done.Add(1)), Total: len(actions)})
		}()
	}
	wg.Wait()
	if fatal != nil {
		return out, fatal
	}
	ap.confirmCreates(ctx, actions, out)
	return out, nil
}

func (ap applier) do(ctx context.Context, a Action) outcome {
	if !ap.stopAt.IsZero() {
		ctx = WithWriteDeadline(ctx, ap.stopAt)
	}
	o := outcome{attempted: true}
	switch a.Kind {
	case Create:
		o.id, o.err = ap.create(ctx, a.Registry)
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

// create sends a create, and sends it again while Falcon rejects the
// credential, ap.retry.Attempts times ap.retry.Wait apart, as long as the
// next send would start before the write deadline — unless the same
// credential was already rejected after every retry in this run. A create
// still rejected comes back as a *rejection saying what was tried.
func (ap applier) create(ctx context.Context, r Registry) (string, error) {
	fp := r.Credential.Fingerprint()
	id, err := ap.falcon.CreateRegistry(ctx, r)
	sends, cut := 1, false
	for errors.Is(err, ErrCredentialRejected) && sends <= ap.retry.Attempts {
		if _, rejected := ap.verdicts.was(fp); rejected {
			break
		}
		if !ap.stopAt.IsZero() && time.Now().Add(ap.retry.Wait).After(ap.stopAt) {
			cut = true
			break
		}
		if sleep(ctx, ap.retry.Wait) != nil {
			break
		}
		id, err = ap.falcon.CreateRegistry(ctx, r)
		sends++
	}
	if err == nil {
		ap.verdicts.note(fp, true)
		return id, nil
	}
	if !errors.Is(err, ErrCredentialRejected) {
		return id, err
	}
	accepted, retried := ap.verdicts.was(fp)
	if sends > ap.retry.Attempts && ap.retry.Attempts > 0 {
		ap.verdicts.note(fp, false)
	}
	return "", &rejection{err: err, sends: sends, span: time.Duration(sends-1) * ap.retry.Wait, cut: cut,
		retried: retried && sends == 1, accepted: accepted}
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
