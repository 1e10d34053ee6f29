package onboard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// outcome of one planned action.
type outcome struct {
	attempted bool
	id        string // registry ID after create
	existed   bool   // create found the registry already there (409, confirmed)
	err       error
}

// applier runs a plan's writes with bounded concurrency.
type applier struct {
	falcon      Falcon
	concurrency int
	stopAt      time.Time // start no write after this (zero: no limit)
	progress    func(Progress)
	owner       Owner
}

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
		o.id, o.err = ap.falcon.CreateRegistry(ctx, a.Registry)
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

// confirmCreates settles creates that answered 409 or an uncertain error by
// listing registries once: a registry that is there now was created (by this
// request before it failed, or concurrently by another run) and is never
// created twice. One that is not there after an uncertain error is created
// once more, now that its absence is known.
func (ap applier) confirmCreates(ctx context.Context, actions []Action, out []outcome) {
	var unsure []int
	for i, a := range actions {
		if a.Kind == Create && (errors.Is(out[i].err, ErrExists) || errors.Is(out[i].err, ErrUncertain)) {
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
	byURL := indexByURL(listed, ap.owner)
	for _, i := range unsure {
		r := actions[i].Registry
		if have, ok := byURL[r.URL]; ok {
			out[i] = outcome{attempted: true, id: have.ID, existed: errors.Is(out[i].err, ErrExists)}
			continue
		}
		if errors.Is(out[i].err, ErrExists) {
			out[i].err = fmt.Errorf("%w, yet it is not listed", out[i].err)
			continue
		}
		if ap.stopping(ctx) {
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
