package trigger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// ErrDisconnecting: the stack is being deleted and its Delete disconnects
// this stack's registrations, so no run writes any more.
var ErrDisconnecting = errors.New("the stack is being deleted: its Delete disconnects this stack's registrations, and no run writes any more")

// DefaultSettle is how long a disconnect waits, after its first pass,
// before it lists again and deletes what was registered meanwhile: runs
// that were writing when the mark landed start no write later than
// onboard.HoldRecheck (5 s) after it, and a write takes well under a second
// unless Falcon answers 429 (README, "Deleting the stack").
const DefaultSettle = 30 * time.Second

// hold is every run's onboard.Request.Hold and the check before a run
// starts or continues: nil while the stack is not being deleted,
// ErrDisconnecting once its Delete marked the table (Links), and an error
// when the mark cannot be read (fail closed: nothing is written).
func (h *Handler) hold(ctx context.Context) error {
	if h.Links == nil {
		return nil
	}
	qctx, cancel := queueContext(ctx)
	defer cancel()
	set, err := h.Links.Disconnecting(qctx)
	switch {
	case err != nil:
		return fmt.Errorf("cannot tell whether the stack is being deleted, so nothing is written: %w", err)
	case set:
		return ErrDisconnecting
	}
	return nil
}

// held checks the mark before a run: a report saying why nothing ran when
// the stack is being deleted, an error when the mark cannot be read, and
// neither when the run may go on.
func (h *Handler) held(ctx context.Context, inv invocation, trigger onboard.Trigger) (*onboard.Report, error) {
	err := h.hold(ctx)
	switch {
	case errors.Is(err, ErrDisconnecting):
		inv.log.Warn("not run: "+err.Error(), "trigger", trigger)
		rep := onboard.DeferredReport(inv.runID, trigger, err.Error())
		return &rep, nil
	case err != nil:
		inv.log.Error("not run", "trigger", trigger, "error", err)
		return nil, err
	}
	return nil, nil
}

// disconnect is a stack Delete's disconnect (README, "Deleting the stack"): it marks
// the table first, so that no run writes from then on, then deletes every
// owned registration in scope, waits for writes that were in flight when
// the mark landed (Settle), and lists and deletes again. Its report is the
// two passes' together.
func (h *Handler) disconnect(ctx context.Context, inv invocation) (onboard.Report, error) {
	rep := onboard.EmptyReport(inv.runID, onboard.TriggerCloudFormation)
	rn, err := h.runner(ctx, inv)
	if err != nil {
		return rep, err
	}
	if h.Links != nil {
		qctx, cancel := queueContext(ctx)
		err := h.Links.MarkDisconnecting(qctx, inv.runID)
		cancel()
		if err != nil {
			return rep, fmt.Errorf("recording that the stack is being deleted, so that no run re-creates what the disconnect removes (nothing was deleted): %w", err)
		}
		inv.log.Info("marked the stack as disconnecting: no run writes from now on")
	} else {
		inv.log.Warn("no continuation table: runs still in flight are not held during the disconnect")
	}
	req := onboard.Request{Trigger: onboard.TriggerCloudFormation, Disconnect: true}
	first, _, err := h.run(ctx, inv, rn, req)
	if err != nil || !first.Complete {
		return first, err
	}
	if err := h.settle(ctx); err != nil {
		inv.log.Warn("no second disconnect pass: no time left to wait for writes in flight", "error", err)
		return first, nil
	}
	second, _, err := h.run(ctx, inv, rn, req)
	if err != nil {
		return first, fmt.Errorf("second pass, after writes in flight: %w", err)
	}
	return twoPasses(first, second), nil
}

// settle waits between a disconnect's two passes: Settle, or DefaultSettle
// when the run's context leaves time for it and a second pass as long.
func (h *Handler) settle(ctx context.Context) error {
	if h.Settle != nil {
		return h.Settle(ctx)
	}
	runCtx, cancel := h.runContext(ctx)
	defer cancel()
	if d, ok := runCtx.Deadline(); ok && time.Until(d) < 2*DefaultSettle {
		return fmt.Errorf("%s left before the deadline", time.Until(d).Round(time.Second))
	}
	t := time.NewTimer(DefaultSettle)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-runCtx.Done():
		return runCtx.Err()
	}
}

// twoPasses is the report of a disconnect made of two passes: what either
// deleted, and what the second left (its failures and what it did not
// reach are what remains).
func twoPasses(first, second onboard.Report) onboard.Report {
	r := first
	g, s := &r.Registries, second.Registries
	g.Deleted = append(g.Deleted, s.Deleted...)
	g.DeleteFailed, g.DeleteNotAttempted, g.Kept = s.DeleteFailed, s.DeleteNotAttempted, s.Kept
	r.Complete = second.Complete
	r.DurationMS = second.StartedAt.Sub(first.StartedAt).Milliseconds() + second.DurationMS
	r.APICalls += second.APICalls
	r.RateLimited += second.RateLimited
	return r
}
