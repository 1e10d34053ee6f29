package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
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
	// Waiting counts the messages waiting to be delivered, visible or
	// delayed; not those hidden (being processed, or whose delivery failed:
	// the queue cannot tell which, a link's claim can: Links.Chain).
	Waiting(ctx context.Context) (int, error)
}

// Links is where continuation links are claimed (awsapi.Links: a DynamoDB
// table of the stack). It is what makes a link delivered twice continue
// once.
//
// SQS delivers a message at least once: a message whose visibility timeout
// runs out while an invocation still holds it, a rare duplicate of a
// standard queue, a batch retried whole after one record failed, a delete
// after a successful invocation that did not happen. A continuation
// invocation does not ask whether a chain is in flight (its own message is
// that chain), so each extra delivery would run beside the first and queue a
// successor of its own: a second chain, and twice RATE_SHARE of the tenant.
//
//   - A link is identified by its message's content, not by SQS's message:
//     the chain (the run_id of the run that started it) and its depth,
//     "RUN_ID/DEPTH" (Continuation.Link). A redelivered message and a copy
//     sent twice are the same link.
//   - The fact "this link was taken" lives in the table, one item per link,
//     written with a conditional write (Claim): it succeeds for one
//     delivery only, while the link is absent, or claimed by an invocation
//     whose deadline has passed (it failed: timed out, crashed, returned an
//     error; SQS then delivers the message again, and that delivery may run
//     it). A link claimed by an invocation that may still run, or done, is
//     skipped: no Falcon call, no message, and the delivery succeeds (SQS
//     deletes it).
//   - After its run the link is recorded done (Done) before its successor is
//     queued: when Done fails, the link is not continued (the next scheduled
//     run carries on), so there is never a successor without the record
//     that stops a second one.
//
// A conditional write is atomic and strongly consistent, so however many
// deliveries of a link arrive, at the same time or hours apart, one runs;
// the claim lapses only after the claimant's deadline, when it can no longer
// be running. This is the idempotency record of Powertools for AWS Lambda
// (its Idempotency utility: an item per key, "in progress" until the
// invocation's deadline, then complete).
//
// The table also records the current chain (StartChain, HoldChain, Chain),
// and whether the stack is being deleted (MarkDisconnecting,
// Disconnecting):
//
//   - A chain is in flight while a message waits on the queue (visible or
//     delayed) or a link of the current chain holds a live claim (Chain's
//     until is ahead). A hidden message whose claim lapsed is a delivery
//     that failed: SQS shows it again only after its visibility timeout
//     (90 minutes), and scheduled runs do not wait for it.
//   - A run that starts a chain records it as the current one first
//     (StartChain); a link runs only while its chain is current
//     (HoldChain), so the message of a failed link that reappears after a
//     scheduled run started another chain is skipped, not run beside it.
//   - A stack Delete that disconnects marks the table before it deletes
//     anything; every run reads the mark before its first write and writes
//     nothing when it is set (README, "Deleting the stack").
type Links interface {
	// Claim takes link for the calling invocation until until (its
	// deadline). It reports false when the link is done, or claimed by an
	// invocation whose claim has not lapsed.
	Claim(ctx context.Context, link string, until time.Time) (bool, error)
	// Done records that link ran to its end: no later delivery runs it.
	Done(ctx context.Context, link string) error
	// StartChain records runID's chain as the current one, superseding
	// any other.
	StartChain(ctx context.Context, runID string) error
	// HoldChain records that a link of runID's chain runs until until, if
	// that chain is current (or none is recorded); false when another
	// chain superseded it.
	HoldChain(ctx context.Context, runID string, until time.Time) (bool, error)
	// Chain returns the current chain and when the claim of its running
	// link lapses ("" and the zero time when none is recorded).
	Chain(ctx context.Context) (runID string, until time.Time, err error)
	// MarkDisconnecting records that the stack is being deleted and its
	// registrations disconnected.
	MarkDisconnecting(ctx context.Context, runID string) error
	// Disconnecting reports whether the mark is set.
	Disconnecting(ctx context.Context) (bool, error)
}

// claimSlack is added to an invocation's deadline for its claim to lapse:
// another sandbox's clock may be a little ahead.
const claimSlack = time.Minute

// maxInvocation is Lambda's longest function timeout: how long a claim made
// without a deadline lasts.
const maxInvocation = 15 * time.Minute

// claimUntil is when a claim made in ctx lapses.
func claimUntil(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d.Add(claimSlack)
	}
	return time.Now().Add(maxInvocation + claimSlack)
}

// Link is the link's identity in its chain: "RUN_ID/DEPTH" (see Links).
func (c Continuation) Link() string { return c.RunID + "/" + strconv.Itoa(c.Depth) }

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

// chainInFlight reports whether a continuation chain is under way: a
// message waits on the queue (visible or delayed), or a link of the current
// chain holds a live claim (Links). ok is false when the queue or the table
// could not tell.
func (h *Handler) chainInFlight(ctx context.Context, inv invocation) (inFlight, ok bool) {
	qctx, cancel := queueContext(ctx)
	defer cancel()
	n, err := h.Queue.Waiting(qctx)
	if err != nil {
		inv.log.Warn("cannot tell whether a continuation chain is in flight", "error", err)
		return false, false
	}
	if n > 0 || h.Links == nil {
		return n > 0, true
	}
	_, until, err := h.Links.Chain(qctx)
	if err != nil {
		inv.log.Warn("cannot tell whether a continuation chain is in flight", "error", err)
		return false, false
	}
	return until.After(time.Now()), true
}

// continueLater queues the rest of an incomplete run, and reports whether
// it did. Only a run that stopped for time after making progress — writes
// this invocation did — is continued: one that wrote nothing would only
// loop. A run that is not itself a continuation does not start a chain
// while another is in flight, and records its chain as the current one
// before it queues the first link; a link queues its successor only while
// its chain is current. Nothing is queued once the stack is being deleted.
func (h *Handler) continueLater(ctx context.Context, inv invocation, req onboard.Request, rep onboard.Report, depth int) bool {
	g := rep.Registries
	progressed := len(g.Created)+len(g.Updated)+len(g.Deleted) > 0
	limit := h.MaxContinuations
	if limit <= 0 {
		limit = DefaultMaxContinuations
	}
	switch {
	case h.Queue == nil || rep.Complete || req.Disconnect || rep.DryRun:
		return false
	case !progressed:
		inv.log.Warn("run wrote nothing before its deadline; not continued (raise the function timeout)", "not_attempted", g.NotAttempted)
		return false
	case depth >= limit:
		inv.log.Error("continuation limit reached; the next scheduled run continues", "depth", depth)
		return false
	case req.Trigger != onboard.TriggerContinuation:
		if inFlight, ok := h.chainInFlight(ctx, inv); inFlight || !ok {
			inv.log.Warn("not starting a continuation chain: another is in flight or the queue cannot tell; it, or the next scheduled run, continues")
			return false
		}
	}
	if err := h.hold(ctx); err != nil {
		inv.log.Warn("not continued: the stack is being deleted, or whether it is cannot be told", "reason", err.Error())
		return false
	}
	first := req.RunID
	if req.Continues != "" {
		first = req.Continues
	}
	qctx, cancel := queueContext(ctx)
	defer cancel()
	if h.Links != nil {
		var err error
		current := true
		if req.Trigger == onboard.TriggerContinuation {
			// The claim stays live until the successor holds its own.
			current, err = h.Links.HoldChain(qctx, first, claimUntil(ctx))
		} else {
			err = h.Links.StartChain(qctx, first)
		}
		switch {
		case err != nil:
			inv.log.Error("could not record the continuation chain; not continued (the next scheduled run carries on)", "error", err)
			return false
		case !current:
			inv.log.Warn("not continued: a later run started another continuation chain, which carries on", "continues", first)
			return false
		}
	}
	body, _ := json.Marshal(Continuation{RunID: first, Depth: depth + 1, Narrowing: req.Narrowing})
	if err := h.Queue.Send(qctx, string(body)); err != nil {
		inv.log.Error("could not queue the continuation; the next scheduled run continues", "error", err)
		return false
	}
	inv.log.Info("continuation queued", "depth", depth+1, "not_attempted", g.NotAttempted)
	return true
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

// continuation runs the continuation links an SQS event delivers, one
// record after the other, each claimed on its own (Links): a link that
// another delivery took is skipped. Only messages from this function's own
// queue are accepted.
func (h *Handler) continuation(ctx context.Context, inv invocation, ev events.SQSEvent) (onboard.Report, error) {
	for _, rec := range ev.Records {
		if h.QueueARN == "" || rec.EventSourceARN != h.QueueARN {
			return onboard.Report{}, unsupported("SQS records from %q (only this function's continuation queue is accepted)", rec.EventSourceARN)
		}
	}
	links := make([]Continuation, 0, len(ev.Records))
	for _, rec := range ev.Records {
		c, err := parseContinuation(rec.Body)
		if err != nil {
			return onboard.Report{}, err
		}
		links = append(links, c)
	}
	if h.Links == nil {
		return onboard.Report{}, &config.Error{Var: "CONTINUATION_TABLE",
			Problem: "not set: without it a continuation delivered twice would run twice, so none is run (template.yaml sets it)"}
	}
	rep := onboard.EmptyReport(inv.runID, onboard.TriggerContinuation)
	for _, c := range links {
		var err error
		if rep, err = h.continueLink(ctx, inv, c, rep); err != nil {
			return rep, fmt.Errorf("continuation link %s: %w", c.Link(), err)
		}
	}
	return rep, nil
}

// continueLink runs link c unless the stack is being deleted, its chain
// was superseded or another delivery took it, and records it done before
// queuing its successor. rep is returned when c is skipped.
func (h *Handler) continueLink(ctx context.Context, inv invocation, c Continuation, rep onboard.Report) (onboard.Report, error) {
	if skip, err := h.held(ctx, inv, onboard.TriggerContinuation); err != nil || skip != nil {
		if skip != nil {
			rep = *skip
		}
		return rep, err
	}
	qctx, cancel := queueContext(ctx)
	current, err := h.Links.HoldChain(qctx, c.RunID, claimUntil(ctx))
	taken := false
	if err == nil && current {
		taken, err = h.Links.Claim(qctx, c.Link(), claimUntil(ctx))
	}
	cancel()
	switch {
	case err != nil:
		return rep, fmt.Errorf("cannot tell whether another delivery took it, so it is not run (SQS delivers it again): %w", err)
	case !current:
		inv.log.Info("continuation link of a superseded chain: a later run started another chain; skipped", "link", c.Link())
		return onboard.DeferredReport(inv.runID, onboard.TriggerContinuation, "link "+c.Link()+" of a superseded continuation chain"), nil
	case !taken:
		inv.log.Info("continuation link already taken by another delivery; skipped", "link", c.Link())
		return rep, nil
	}
	inv.log.Info("continuing run", "continues", c.RunID, "depth", c.Depth)
	rn, err := h.runner(ctx, inv)
	if err != nil {
		return rep, err
	}
	req := onboard.Request{Trigger: onboard.TriggerContinuation, DryRun: c.DryRun, Narrowing: c.Narrowing, Continues: c.RunID}
	if rep, req, err = h.run(ctx, inv, rn, req); err != nil {
		return rep, err
	}
	qctx, cancel = queueContext(ctx)
	err = h.Links.Done(qctx, c.Link())
	cancel()
	if err != nil {
		inv.log.Error("could not record the continuation link as done; not continued, so that no second chain can start (the next scheduled run carries on)",
			"link", c.Link(), "error", err)
		return rep, nil
	}
	if !h.continueLater(ctx, inv, req, rep, c.Depth) {
		// The chain ends here: its claim no longer keeps scheduled runs
		// waiting (a superseded chain's record is not touched).
		qctx, cancel = queueContext(ctx)
		defer cancel()
		if _, err := h.Links.HoldChain(qctx, c.RunID, time.Now()); err != nil {
			inv.log.Warn("could not record the end of the continuation chain; scheduled runs wait for its claim to lapse", "error", err)
		}
	}
	return rep, nil
}
