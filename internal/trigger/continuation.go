package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Continuation is the message a run that ran out of time leaves on the
// continuation queue: the next invocation re-plans from Falcon's current
// state (so nothing is done twice) with the same narrowing. It carries no
// credential and no cursor into the plan: the plan itself is the cursor.
type Continuation struct {
	RunID  string `json:"run_id"` // the first run of the chain
	Depth  int    `json:"depth"`  // continuations so far
	DryRun bool   `json:"dry_run,omitempty"`
	onboard.Narrowing
}

// Queue is the continuation queue (SQS in production).
type Queue interface {
	// Send queues a message.
	Send(ctx context.Context, body string) error
	// InFlight counts the messages queued, delayed or being processed: a
	// continuation chain is in flight when it is not zero.
	InFlight(ctx context.Context) (int, error)
}

// DefaultMaxContinuations bounds a chain: with 15-minute invocations, 96 is
// a day of work, far beyond any organisation's first onboarding.
const DefaultMaxContinuations = 96

// queueTimeout bounds each call to the queue. The call has a context of its
// own: it comes after the run, whose context may have ended.
const queueTimeout = 3 * time.Second

// queueContext is a short context for a queue call after a run.
func queueContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), queueTimeout)
}

// chainInFlight reports whether a continuation chain is under way (a
// message on the queue, delayed, or being processed by an invocation). ok
// is false when the queue could not tell.
func (h *Handler) chainInFlight(ctx context.Context, inv invocation) (inFlight, ok bool) {
	qctx, cancel := queueContext(ctx)
	defer cancel()
	n, err := h.Queue.InFlight(qctx)
	if err != nil {
		inv.log.Warn("cannot tell whether a continuation chain is in flight", "error", err)
		return false, false
	}
	return n > 0, true
}

// continueLater queues the rest of an incomplete run. Only a run that
// stopped for time after making progress — writes this invocation did —
// is continued: one that wrote nothing would only loop. A run that is not
// itself a continuation does not start a chain while another is in flight.
func (h *Handler) continueLater(ctx context.Context, inv invocation, req onboard.Request, rep onboard.Report, depth int) {
	g := rep.Registries
	progressed := len(g.Created)+len(g.Updated)+len(g.Deleted) > 0
	limit := h.MaxContinuations
	if limit <= 0 {
		limit = DefaultMaxContinuations
	}
	switch {
	case h.Queue == nil || rep.Complete || req.Disconnect || rep.DryRun:
		return
	case !progressed:
		inv.log.Warn("run wrote nothing before its deadline; not continued (raise the function timeout)", "not_attempted", g.NotAttempted)
		return
	case depth >= limit:
		inv.log.Error("continuation limit reached; the next scheduled run continues", "depth", depth)
		return
	case req.Trigger != onboard.TriggerContinuation:
		if inFlight, ok := h.chainInFlight(ctx, inv); inFlight || !ok {
			inv.log.Warn("not starting a continuation chain: another is in flight or the queue cannot tell; it, or the next scheduled run, continues")
			return
		}
	}
	first := req.RunID
	if req.Continues != "" {
		first = req.Continues
	}
	body, _ := json.Marshal(Continuation{RunID: first, Depth: depth + 1, Narrowing: req.Narrowing})
	qctx, cancel := queueContext(ctx)
	defer cancel()
	if err := h.Queue.Send(qctx, string(body)); err != nil {
		inv.log.Error("could not queue the continuation; the next scheduled run continues", "error", err)
		return
	}
	inv.log.Info("continuation queued", "depth", depth+1, "not_attempted", g.NotAttempted)
}

// parseContinuation decodes a continuation message strictly: it may narrow
// the configuration like a manual run, never widen it or carry secrets.
func parseContinuation(body string) (Continuation, error) {
	var c Continuation
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Continuation{}, unsupported("malformed continuation message: %v", err)
	}
	if err := c.Narrowing.Check(); err != nil {
		return Continuation{}, unsupported("continuation message: %v", err)
	}
	if c.RunID == "" || c.Depth < 1 {
		return Continuation{}, unsupported("continuation message without run_id or depth")
	}
	return c, nil
}

// continuation runs the continuations an SQS event delivers. Only messages
// from this function's own queue are accepted.
func (h *Handler) continuation(ctx context.Context, inv invocation, ev events.SQSEvent) (onboard.Report, error) {
	var rep onboard.Report
	for _, rec := range ev.Records {
		if h.QueueARN == "" || rec.EventSourceARN != h.QueueARN {
			return onboard.Report{}, unsupported("SQS records from %q (only this function's continuation queue is accepted)", rec.EventSourceARN)
		}
	}
	for _, rec := range ev.Records {
		c, err := parseContinuation(rec.Body)
		if err != nil {
			return onboard.Report{}, err
		}
		inv.log.Info("continuing run", "continues", c.RunID, "depth", c.Depth)
		req := onboard.Request{Trigger: onboard.TriggerContinuation, DryRun: c.DryRun, Narrowing: c.Narrowing, Continues: c.RunID}
		if rep, err = h.reconcileAt(ctx, inv, req, c.Depth); err != nil {
			return rep, fmt.Errorf("continuation of run %s: %w", c.RunID, err)
		}
	}
	return rep, nil
}
