package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Physical resource IDs: stable per stack and logical resource. A Create
// that failed answers with the failed form, so the Delete CloudFormation
// sends on rollback is recognised and does nothing.
const (
	physicalPrefix = "ecr-onboard-"
	failedPrefix   = "ecr-onboard-failed-"
)

// MaxReason bounds the Reason sent to CloudFormation (the whole response
// must stay under 4 KB).
const MaxReason = 1000

// sendAttempts is how often the response PUT is tried (S3 can fail transiently).
const sendAttempts = 3

// PhysicalResourceID is the stable ID of the custom resource in a stack.
func PhysicalResourceID(stackID, logicalID string) string {
	return physicalPrefix + resourceHash(stackID, logicalID)
}

func failedResourceID(stackID, logicalID string) string {
	return failedPrefix + resourceHash(stackID, logicalID)
}

func resourceHash(stackID, logicalID string) string {
	sum := sha256.Sum256([]byte(stackID + "\x00" + logicalID))
	return hex.EncodeToString(sum[:8])
}

// cloudFormation answers a custom resource request. Whatever happens —
// success, fatal error, panic, the deadline — a response is PUT to the
// ResponseURL before the function's deadline; only then is the rest of a
// run that ran out of time queued, so CloudFormation never waits on it.
func (h *Handler) cloudFormation(ctx context.Context, inv invocation, ev cfn.Event) onboard.Report {
	log := inv.log.With("request_type", string(ev.RequestType), "logical_resource_id", ev.LogicalResourceID)
	log.Info("CloudFormation request", "stack_id", ev.StackID, "request_id", ev.RequestID,
		"physical_resource_id", ev.PhysicalResourceID, "response_host", host(ev.ResponseURL))

	resp := cfn.NewResponse(&ev)
	// Create and Update answer the resource's own ID (an Update of another
	// ID makes CloudFormation delete that one, which disconnects nothing);
	// a Delete answers the ID it deletes.
	resp.PhysicalResourceID = h.Resource.PhysicalID()
	if ev.RequestType == cfn.RequestDelete && ev.PhysicalResourceID != "" {
		resp.PhysicalResourceID = ev.PhysicalResourceID
	}
	rep, later := h.cfnRequest(ctx, inv, log, ev, resp)
	h.answer(ctx, log, resp)
	if later != nil {
		later()
	}
	return rep
}

// cfnRequest carries out a request and fills resp; later, when set, is the
// continuation to queue once CloudFormation has its answer. A panic fails
// the request.
func (h *Handler) cfnRequest(ctx context.Context, inv invocation, log *slog.Logger, ev cfn.Event, resp *cfn.Response) (rep onboard.Report, later func()) {
	rep = onboard.EmptyReport(inv.runID, onboard.TriggerCloudFormation)
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			fail(resp, ev, fmt.Errorf("internal error (panic: %v); see the function's log stream", p), inv.runID)
			later = nil
		}
	}()
	switch ev.RequestType {
	case cfn.RequestCreate, cfn.RequestUpdate:
		if k := sensitiveProperty(ev.ResourceProperties); k != "" {
			fail(resp, ev, fmt.Errorf("ResourceProperties.%s is refused: ecr-onboard takes no credentials or external IDs "+
				"from the stack (each account's external ID is read from CrowdStrike CSPM)", k), inv.runID)
			return rep, nil
		}
		if h.NoRunOnDeploy {
			succeed(resp, "nothing run: RUN_ON_DEPLOY is false (the stack's RunOnDeploy parameter); the schedule reconciles")
			return rep, nil
		}
		if skip, err := h.held(ctx, inv, onboard.TriggerCloudFormation); err != nil || skip != nil {
			if err != nil {
				fail(resp, ev, err, inv.runID)
				return rep, nil
			}
			succeed(resp, "nothing run: "+skip.Deferred)
			return *skip, nil
		}
		rn, err := h.runner(ctx, inv)
		if err != nil {
			fail(resp, ev, err, inv.runID)
			return rep, nil
		}
		rep, req, err := h.run(ctx, inv, rn, onboard.Request{Trigger: onboard.TriggerCloudFormation})
		resp.Data = data(rep)
		if err != nil {
			fail(resp, ev, err, inv.runID)
			return rep, nil
		}
		succeed(resp, summary(rep))
		return rep, func() { h.continueLater(ctx, inv, req, rep, 0) }

	case cfn.RequestDelete:
		return h.cfnDelete(ctx, inv, ev, resp, rep), nil
	}
	fail(resp, ev, fmt.Errorf("unsupported RequestType %q (want Create, Update or Delete)", ev.RequestType), inv.runID)
	return rep, nil
}

// cfnDelete disconnects owned registries (disconnect: the mark, then two
// passes) when DISCONNECT_ON_DELETE is set and the Delete is of the
// resource's own physical ID; otherwise, and after a failed Create or a
// configuration error, it only answers SUCCESS so the stack can go away. A
// disconnect cut short by the deadline answers SUCCESS too, saying what
// remains: the schedule and the queue go with the stack, so nothing would
// finish it.
func (h *Handler) cfnDelete(ctx context.Context, inv invocation, ev cfn.Event, resp *cfn.Response, rep onboard.Report) onboard.Report {
	var cfgErr *config.Error
	initErr := h.initErr()
	switch {
	case ev.PhysicalResourceID == h.Resource.failedID():
		succeed(resp, "nothing to do: this resource's Create had failed")
		return rep
	case !h.Resource.Disconnects(ev.PhysicalResourceID):
		inv.log.Warn("stack Delete of another physical ID than the resource's own: nothing disconnected", "own_physical_resource_id", h.Resource.PhysicalID())
		succeed(resp, truncate(fmt.Sprintf("nothing disconnected: %q is not the physical ID this stack's resource was given (%s); "+
			"CloudFormation sends an ID of its own for a resource whose Create never answered", ev.PhysicalResourceID, h.Resource.PhysicalID()), MaxReason))
		return rep
	case errors.As(initErr, &cfgErr):
		inv.log.Warn("stack Delete with a configuration error: nothing disconnected", "error", initErr)
		succeed(resp, truncate("nothing disconnected: the function's configuration is invalid ("+initErr.Error()+"); registries stay in Falcon", MaxReason))
		return rep
	case !h.DisconnectOnDelete:
		succeed(resp, "nothing to do: DISCONNECT_ON_DELETE is false, registries stay in Falcon")
		return rep
	}
	rep, err := h.disconnect(ctx, inv)
	resp.Data = data(rep)
	if err != nil {
		fail(resp, ev, fmt.Errorf("disconnecting owned registries: %w. To delete the stack without disconnecting, "+
			"delete it again and retain this resource (registries stay in Falcon)", err), inv.runID)
		return rep
	}
	g := rep.Registries
	if left := g.DeleteNotAttempted + len(g.DeleteFailed) + len(g.Kept); left > 0 {
		inv.log.Warn("stack deleted with owned registrations left in Falcon", "left", left)
		succeed(resp, truncate(fmt.Sprintf("run %s: %d owned registrations deleted, %d left in Falcon (%d not reached before the deadline, %d failed, %d outside the scope); "+
			"the stack's schedule goes with it, so nothing will remove them: delete them by hand, see REMOVAL_GUIDE.md, step 3",
			rep.RunID, len(g.Deleted), left, g.DeleteNotAttempted, len(g.DeleteFailed), len(g.Kept)), MaxReason))
		return rep
	}
	succeed(resp, summary(rep))
	return rep
}

func succeed(resp *cfn.Response, reason string) {
	resp.Status = cfn.StatusSuccess
	resp.Reason = reason
}

// fail marks resp FAILED with a reason a person can act on. A failed Create
// gets the failed physical ID, so the rollback's Delete does nothing.
func fail(resp *cfn.Response, ev cfn.Event, err error, runID string) {
	resp.Status = cfn.StatusFailed
	if ev.RequestType == cfn.RequestCreate {
		resp.PhysicalResourceID = CustomResource{ev.StackID, ev.LogicalResourceID}.failedID()
	}
	suffix := " [run_id " + runID + "; details in the function's CloudWatch log group]"
	resp.Reason = truncate(err.Error(), MaxReason-len(suffix)) + suffix
}

// answer PUTs resp to the ResponseURL (cfn's Send), retrying transient
// failures while the invocation has time left.
func (h *Handler) answer(ctx context.Context, log *slog.Logger, resp *cfn.Response) {
	attrs := []any{"status", resp.Status, "physical_resource_id", resp.PhysicalResourceID, "reason", resp.Reason}
	for attempt := 1; ; attempt++ {
		done := make(chan error, 1)
		go func() { done <- resp.Send() }()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			log.Error("CloudFormation response not sent before the deadline", attrs...)
			return
		}
		if err == nil {
			log.Info("CloudFormation response sent", attrs...)
			return
		}
		log.Warn("sending the CloudFormation response failed", append(attrs, "attempt", attempt, "error", err)...)
		if attempt == sendAttempts {
			log.Error("CloudFormation response not sent; the stack waits for its timeout", attrs...)
			return
		}
		select {
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		case <-ctx.Done():
			log.Error("CloudFormation response not sent before the deadline", attrs...)
			return
		}
	}
}

// data is the response's Data: the report's counts and, for a run that
// judged it, its coverage, as strings (Fn::GetAtt InitialReconcile.Created …).
func data(rep onboard.Report) map[string]any {
	g := rep.Registries
	d := map[string]any{
		"RunId":        rep.RunID,
		"Complete":     strconv.FormatBool(rep.Complete),
		"DryRun":       strconv.FormatBool(rep.DryRun),
		"Created":      strconv.Itoa(len(g.Created)),
		"Updated":      strconv.Itoa(len(g.Updated)),
		"Deleted":      strconv.Itoa(len(g.Deleted)),
		"Failed":       strconv.Itoa(rep.Failures()),
		"Waiting":      strconv.Itoa(len(g.Waiting)),
		"Unchanged":    strconv.Itoa(g.Unchanged),
		"NotAttempted": strconv.Itoa(g.NotAttempted + g.DeleteNotAttempted),
		"Skipped":      strconv.Itoa(len(rep.Accounts.Skipped)),
	}
	if c := rep.TenantCoverage(); c != nil {
		d["CoveragePercent"] = strconv.FormatFloat(c.Percent, 'f', 1, 64)
		d["CoverageClean"] = strconv.FormatBool(c.Clean)
		d["RegistriesMissing"] = strconv.Itoa(c.Desired - c.Present)
	}
	return d
}

// summary is a one-line outcome for the stack's events.
func summary(rep onboard.Report) string {
	g := rep.Registries
	s := fmt.Sprintf("run %s: %d created, %d updated, %d deleted, %d unchanged, %d failed; %d accounts skipped",
		rep.RunID, len(g.Created), len(g.Updated), len(g.Deleted), g.Unchanged, rep.Failures(), len(rep.Accounts.Skipped))
	if rep.DryRun {
		s += " (dry run: nothing written)"
	}
	if rep.Failures() > 0 {
		s += "; failed registries carry a hint in the function's log (usually the role's trust policy)"
	}
	if !rep.Complete {
		s += fmt.Sprintf("; stopped before the deadline with %d writes left for a continuation or the next scheduled run", g.NotAttempted)
	}
	// A stack whose accounts were all skipped still deploys (a person fixes
	// them, and the schedule covers them then), but its event says so.
	if c := rep.Coverage; c != nil && !c.Clean {
		s += fmt.Sprintf("; coverage %.1f%%, NOT clean: %s", c.Percent, strings.Join(c.Attention, "; "))
	}
	return truncate(s, MaxReason)
}

// sensitiveProperty returns a resource property that looks like a credential.
func sensitiveProperty(props map[string]any) string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "ServiceToken" && sensitive(k) {
			return k
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// host is the ResponseURL's host: the URL itself is a presigned capability
// and is not logged.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
