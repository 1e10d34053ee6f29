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
	// shown is the registration as Falcon showed it after the write: its
	// answer, the listing that settled the write, or a read by ID
	// (readBack); nil while nothing has shown it.
	shown *Registry
	// waitsFor is the write of the same credential Falcon rejected in this
	// run: this one was not sent (one write per credential until Falcon
	// accepts it).
	waitsFor *Action
}

// applier runs a plan's writes with bounded concurrency.
type applier struct {
	falcon      Falcon
	concurrency int
	stopAt      time.Time // start no write after this (zero: no limit)
	progress    func(Progress)
	owner       Owner
	retry       Retry     // of a write whose credential Falcon rejected
	verdicts    *verdicts // what Falcon said of each credential in this run
}

// verdicts remembers the credentials (by fingerprint) Falcon accepted for
// a write in this run: a rejection of one of them is transient, and once
// one is accepted, its other registries are worth sending.
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

// rejection is a write Falcon still answered "failed to validate registry
// credential" after what the run could try: what was tried, for the hint
// (see rejectedHint).
type rejection struct {
	err     error
	sends   int           // of this write
	span    time.Duration // from the first send to the last
	cut     bool          // the write deadline left no time for the next send
	retried bool          // the same credential was rejected after every retry already
	// accepted: Falcon accepted the same credential for another registry in
	// this run, so the trust policy lets it in.
	accepted bool
	// settled: nothing suggested the role's trust was changing (plausible),
	// so the write was not sent again in this run.
	settled bool
}

// tried says, for a hint, what the run tried: " (sent 6 times over 1m15s)"
// and the like; "" when there is nothing to say.
func (r *rejection) tried() string {
	switch {
	case r.sends > 1:
		t := fmt.Sprintf(" (sent %d times over %s", r.sends, r.span)
		if r.cut {
			t += ", until the run's write deadline"
		}
		return t + ")"
	case r.cut:
		return " (no time was left to send it again before the run's write deadline)"
	case r.settled:
		return fmt.Sprintf(" (sent once: the account was registered with CSPM, and Falcon's verdict reached, over %s ago, so no trust change was expected within the run; "+
			"each run sends one write per role until Falcon accepts it)", SetupWindow)
	case r.retried:
		return " (the same role and external ID were rejected after every retry in this run)"
	}
	return ""
}

func (r *rejection) Error() string { return r.err.Error() }
func (r *rejection) Unwrap() error { return r.err }

// keptVerdict is a write Falcon accepted, so the credential validated and
// the role lets Falcon in, after which Falcon still showed the registration
// in a verdict: something other than the trust policy keeps Falcon from
// assessing the registry (see verdictHint).
type keptVerdict struct {
	kind    ActionKind
	trouble string // Registry.Trouble of what Falcon showed
}

func (e *keptVerdict) Error() string {
	return fmt.Sprintf("Falcon accepted the %s of its credential, yet still shows it unusable: %s", e.kind, e.trouble)
}

// credentialRefused reports whether err says Falcon would not use the
// write's credential: it rejected it, or accepted it and kept its verdict.
func credentialRefused(err error) bool {
	var kv *keptVerdict
	return errors.Is(err, ErrCredentialRejected) || errors.As(err, &kv)
}

// pending reports whether o, the outcome of a, is a refusal of its
// credential while the role is likely still being prepared (Settling):
// pending, not failed, in the report and in coverage alike.
func (o outcome) pending(a Action) bool {
	return o.err != nil && a.Settling != "" && credentialRefused(o.err)
}

func (ap applier) stopping(ctx context.Context) bool {
	return ctx.Err() != nil || (!ap.stopAt.IsZero() && time.Now().After(ap.stopAt))
}

// fingerprint is the credential an action writes ("" for a delete).
func fingerprint(a Action) string {
	if a.Kind == Delete {
		return ""
	}
	return a.Registry.Credential.Fingerprint()
}

// apply executes the plan and returns one outcome per action, and the first
// fatal error (access denied), after which no new write starts.
//
// A credential (role ARN and external ID) gets one write until Falcon
// accepts it: the first write of each credential goes out with the
// deletions, then the other writes of the credentials Falcon did not
// reject; those of a rejected credential wait for it (outcome.waitsFor).
// An organisation whose roles do not trust the registry-assessment
// principal yet costs one refused write (one AssumeRole in the customer's
// CloudTrail) per account and run, not one per registry. Rejected writes
// are sent again, once every other write is done, only where a trust
// change is plausible (retryRejected). Last, what the run wrote is read
// back (readBack): a write counts for coverage only as Falcon shows it.
func (ap applier) apply(ctx context.Context, actions []Action) ([]outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		out   = make([]outcome, len(actions))
		done  atomic.Int64
		fatal error
		once  sync.Once
	)
	step := func() { ap.progress(Progress{Stage: StageWrite, Done: int(done.Add(1)), Total: len(actions)}) }
	send := func(idx []int) {
		ap.each(ctx, idx, func(i int) {
			out[i] = ap.safeDo(ctx, actions[i])
			if errors.Is(out[i].err, ErrAccessDenied) {
				once.Do(func() { fatal = out[i].err; cancel() })
			}
			step()
		})
	}
	first, rest := probes(actions)
	send(first)
	rejected := map[string]int{} // credential -> its write Falcon rejected
	for _, i := range first {
		if errors.Is(out[i].err, ErrCredentialRejected) {
			rejected[fingerprint(actions[i])] = i
		}
	}
	var next []int
	for _, i := range rest {
		if p, ok := rejected[fingerprint(actions[i])]; ok {
			out[i] = outcome{waitsFor: &actions[p]}
			step()
			continue
		}
		next = append(next, i)
	}
	if fatal == nil {
		send(next)
	}
	if fatal != nil {
		return out, fatal
	}
	ap.retryRejected(ctx, actions, out)
	ap.confirmCreates(ctx, actions, out)
	ap.readBack(ctx, actions, out)
	judgeShown(actions, out)
	return out, nil
}

// probes splits actions into what goes out first — every deletion and the
// first write of each credential — and the rest, in plan order.
func probes(actions []Action) (first, rest []int) {
	return perCredential(actions, func(int) bool { return true })
}

// perCredential splits the actions keep selects into the first of each
// credential (every deletion, which carries none) and the rest, in plan
// order.
func perCredential(actions []Action, keep func(i int) bool) (first, rest []int) {
	seen := map[string]bool{}
	for i, a := range actions {
		fp := fingerprint(a)
		switch {
		case !keep(i):
		case a.Kind == Delete, !seen[fp]:
			seen[fp] = true
			first = append(first, i)
		default:
			rest = append(rest, i)
		}
	}
	return first, rest
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
	var answer Registry
	switch a.Kind {
	case Create:
		answer, o.err = ap.falcon.CreateRegistry(ctx, a.Registry)
		o.id = answer.ID
	case Update:
		answer, o.err = ap.falcon.UpdateRegistry(ctx, a.Registry)
	case Delete:
		o.err = ap.falcon.DeleteRegistry(ctx, a.Registry)
	}
	if errors.Is(o.err, ErrNotSent) {
		return outcome{} // not processed: left for the next run
	}
	if o.err == nil && a.Kind != Delete {
		ap.verdicts.note(fingerprint(a))
		if answer.State != "" {
			// Falcon's answer shows the registration's state; an answer
			// that says nothing of it is read back (readBack).
			o.shown = &answer
		}
	}
	return o
}

// retryRejected sends again, in rounds ap.retry.Wait apart, the writes
// whose credential Falcon rejected, where a change of the role's trust is
// plausible within the run: an account or a verdict inside SetupWindow
// (Action.Settling), or a credential Falcon accepted for another registry
// in this run. Right after a trust policy changed, IAM may not have
// propagated it yet. Each round sends one write per such credential; once
// Falcon accepts a credential, its other writes, those waiting for it
// included. After ap.retry.Attempts rounds, or when the next would start
// after the write deadline, what is still rejected stays so, as a
// *rejection saying what was tried. A role that has refused Falcon for
// longer than SetupWindow costs one write a run and no wait.
func (ap applier) retryRejected(ctx context.Context, actions []Action, out []outcome) {
	isRejected := func(i int) bool { return errors.Is(out[i].err, ErrCredentialRejected) }
	plausible := map[string]bool{}
	for i, a := range actions {
		if fp := fingerprint(a); (isRejected(i) || out[i].waitsFor != nil) && (a.Settling != "" || ap.verdicts.accepted(fp)) {
			plausible[fp] = true
		}
	}
	sends := make([]int, len(actions))
	resent := map[string]bool{} // credentials sent again
	resend := func(idx []int) {
		ap.each(ctx, idx, func(i int) {
			if o := ap.safeDo(ctx, actions[i]); o.attempted {
				out[i] = o
				sends[i]++
				resent[fingerprint(actions[i])] = true
			}
		})
	}
	rounds, cut := 0, false
	for ; rounds < ap.retry.Attempts && len(plausible) > 0; rounds++ {
		first, _ := perCredential(actions, func(i int) bool { return isRejected(i) && plausible[fingerprint(actions[i])] })
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
		var accepted []int // the other writes of credentials Falcon now accepts
		for i, a := range actions {
			if (isRejected(i) || out[i].waitsFor != nil) && ap.verdicts.accepted(fingerprint(a)) {
				accepted = append(accepted, i)
			}
		}
		resend(accepted)
	}
	for i, a := range actions {
		if !isRejected(i) {
			continue
		}
		fp := fingerprint(a)
		out[i].err = &rejection{err: out[i].err, sends: 1 + sends[i], span: time.Duration(sends[i]) * ap.retry.Wait,
			cut: cut && plausible[fp], retried: resent[fp] && sends[i] == 0, accepted: ap.verdicts.accepted(fp),
			settled: !plausible[fp] && ap.retry.Attempts > 0}
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
			if errors.Is(out[i].err, ErrCredentialRejected) && !have.Usable() {
				continue // the record Falcon kept of the create it rejected: still rejected
			}
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
		return outcome{attempted: true, id: have.ID, shown: &have}
	}
	return outcome{attempted: true, existed: true, notOwned: !owner.Owns(have), shown: &have}
}

// readBack reads the registrations the run wrote whose answer showed no
// state, by ID (ReadRegistries: 100 IDs a call), so that each counts as
// Falcon shows it, never as sent. One Falcon does not return was written
// and is gone: a failure. When the read fails, they stay unshown, and
// coverage counts them unconfirmed.
func (ap applier) readBack(ctx context.Context, actions []Action, out []outcome) {
	written := map[string][]int{}
	var ids []string
	for i, a := range actions {
		o := out[i]
		if a.Kind == Delete || !o.attempted || o.err != nil || o.existed || o.shown != nil {
			continue
		}
		id := o.id
		if a.Kind == Update {
			id = a.Registry.ID
		}
		if id == "" {
			continue
		}
		if written[id] == nil {
			ids = append(ids, id)
		}
		written[id] = append(written[id], i)
	}
	if len(ids) == 0 {
		return
	}
	got, err := ap.falcon.ReadRegistries(ctx, ids)
	if err != nil {
		return
	}
	shown := make(map[string]Registry, len(got))
	for _, r := range got {
		shown[r.ID] = r
	}
	for id, idx := range written {
		r, ok := shown[id]
		for _, i := range idx {
			if !ok {
				out[i].err = fmt.Errorf("Falcon answered the %s, yet does not return registration %s when it is read back", actions[i].Kind, id)
				continue
			}
			out[i].shown = &r
		}
	}
}

// judgeShown turns a write Falcon accepted into a failure when what Falcon
// then showed of the registration is a verdict against its credential
// (keptVerdict): a status is what Falcon shows, never what was sent.
func judgeShown(actions []Action, out []outcome) {
	for i, a := range actions {
		o := &out[i]
		if a.Kind == Delete || o.err != nil || o.existed || o.shown == nil {
			continue
		}
		if trouble := o.shown.Trouble(); trouble != "" {
			o.err = &keptVerdict{kind: a.Kind, trouble: trouble}
		}
	}
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
