package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Continuation is the message a run that ran out of time leaves on the
// continuation queue: the next invocation re-plans from Falcon's current
// state (so nothing is done twice) with the same narrowing. It carries no
// credential and no cursor into the plan: the plan itself is the cursor.
type Continuation struct {
	RunID      string   `json:"run_id"` // the first run of the chain
	Depth      int      `json:"depth"`  // continuations so far
	DryRun     bool     `json:"dry_run,omitempty"`
	AccountIDs []string `json:"account_ids,omitempty"`
	Regions    []string `json:"regions,omitempty"`
}

// Queue sends continuation messages (SQS in production).
type Queue interface {
	Send(ctx context.Context, body string) error
}

// DefaultMaxContinuations bounds a chain: with 15-minute invocations, 96 is
// a day of work, far beyond any organisation's first onboarding.
const DefaultMaxContinuations = 96

// continueLater queues the rest of an incomplete run. Only a run that
// stopped for time and made progress is continued: one that wrote nothing
// would only loop.
func (h *Handler) continueLater(ctx context.Context, inv invocation, req onboard.Request, rep onboard.Report, depth int) {
	g := rep.Registries
	progressed := len(g.Created)+len(g.Updated)+len(g.Deleted)+len(g.Failed)+g.Unchanged > 0
	limit := h.MaxContinuations
	if limit <= 0 {
		limit = DefaultMaxContinuations
	}
	switch {
	case h.Queue == nil || rep.Complete || req.Disconnect || rep.DryRun:
		return
	case !progressed:
		inv.log.Warn("run made no progress before its deadline; not continued (raise the function timeout)")
		return
	case depth >= limit:
		inv.log.Error("continuation limit reached; the next scheduled run continues", "depth", depth)
		return
	}
	first := req.RunID
	if req.Continues != "" {
		first = req.Continues
	}
	body, _ := json.Marshal(Continuation{RunID: first, Depth: depth + 1, AccountIDs: req.AccountIDs, Regions: req.Regions})
	if err := h.Queue.Send(ctx, string(body)); err != nil {
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
	for _, id := range c.AccountIDs {
		if !onboard.ValidAccountID(id) {
			return Continuation{}, unsupported("continuation message: %q is not an account ID", id)
		}
	}
	for _, r := range c.Regions {
		if !onboard.ValidRegion(r) {
			return Continuation{}, unsupported("continuation message: %q is not a region", r)
		}
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
		rep, err = h.reconcileAt(ctx, inv, onboard.Request{
			Trigger: onboard.TriggerContinuation, DryRun: c.DryRun, AccountIDs: c.AccountIDs, Regions: c.Regions, Continues: c.RunID,
		}, c.Depth)
		if err != nil {
			return rep, fmt.Errorf("continuation of run %s: %w", c.RunID, err)
		}
	}
	return rep, nil
}
