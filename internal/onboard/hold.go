package onboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrHeld: a write was not started because the run's Request.Hold said no
// write may start any more (a stack Delete is disconnecting). Such a write
// is not attempted: it is also ErrNotSent.
var ErrHeld = errors.New("writes held")

// HoldRecheck is how long a Hold's "go on" is trusted before it is asked
// again: a run already writing when the hold lands starts no write later
// than this after it (README, "Deleting the stack").
const HoldRecheck = 5 * time.Second

// hold is a run's Request.Hold as its writes see it: asked before a write
// starts, its "go on" kept HoldRecheck; once it holds, it holds for the
// rest of the run.
type hold struct {
	ask func(context.Context) error
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	askedAt time.Time // zero: never asked
	err     error     // set once held
}

// check returns nil when a write may start, else an error wrapping ErrHeld
// and ErrNotSent. An answer Hold could not give holds too (fail closed).
func (h *hold) check(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	if !h.askedAt.IsZero() && h.now().Sub(h.askedAt) < HoldRecheck {
		return nil
	}
	err := h.ask(ctx)
	h.askedAt = h.now()
	if err != nil {
		h.err = fmt.Errorf("%w: %w: %w", ErrNotSent, ErrHeld, err)
		h.log.Warn("writes held: no further write of this run starts; they are left for a later run", "reason", err.Error())
	}
	return h.err
}

// heldFalcon is the Falcon a run with a Hold writes through: every write
// first checks the hold, and a held one is not sent.
type heldFalcon struct {
	Falcon
	hold *hold
}

func (f heldFalcon) CreateRegistry(ctx context.Context, r Registry) (Registry, error) {
	if err := f.hold.check(ctx); err != nil {
		return Registry{}, err
	}
	return f.Falcon.CreateRegistry(ctx, r)
}

func (f heldFalcon) UpdateRegistry(ctx context.Context, r Registry) (Registry, error) {
	if err := f.hold.check(ctx); err != nil {
		return Registry{}, err
	}
	return f.Falcon.UpdateRegistry(ctx, r)
}

func (f heldFalcon) DeleteRegistry(ctx context.Context, r Registry) error {
	if err := f.hold.check(ctx); err != nil {
		return err
	}
	return f.Falcon.DeleteRegistry(ctx, r)
}

// writer is the Falcon a run's writes go through: rn.Falcon, behind the
// request's Hold when it has one.
func (rn *Runner) writer(req Request) Falcon {
	if req.Hold == nil {
		return rn.Falcon
	}
	return heldFalcon{Falcon: rn.Falcon, hold: &hold{ask: req.Hold, now: time.Now, log: req.Logger}}
}
