package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// DefaultReserve is how long before the Lambda deadline a run's context ends,
// leaving time to answer CloudFormation and return the report.
const DefaultReserve = 5 * time.Second

// Handler answers Lambda invocations. Build it once per cold start and pass
// Handle to lambda.Start.
type Handler struct {
	// Runner runs reconciles; nil when the cold start failed (InitErr).
	Runner *onboard.Runner
	// InitErr is why the cold start could not build a Runner (configuration,
	// credentials). Every invocation that would run fails with it, and
	// CloudFormation requests get a FAILED (Delete: SUCCESS) answer.
	InitErr error
	// Connect, when set, retries building the Runner on an invocation after
	// a cold start failed for a reason other than configuration (credentials
	// unreadable, network): the fix then works without a new sandbox.
	Connect func(context.Context) (*onboard.Runner, error)
	// DisconnectOnDelete: a stack Delete removes the registries this tool owns.
	DisconnectOnDelete bool
	// NoRunOnDeploy (RUN_ON_DEPLOY=false): the custom resource's Create and
	// Update are answered SUCCESS without a run.
	NoRunOnDeploy bool
	// Settle, when set, is the wait between a disconnect's two passes
	// (DefaultSettle when nil: see disconnect).
	Settle func(context.Context) error
	// Resource is the stack's custom resource, the only one whose
	// CloudFormation requests are obeyed (zero: none is).
	Resource CustomResource
	// Logger gets JSON lines; every line of an invocation carries its run_id.
	Logger *slog.Logger
	// Metrics gets one CloudWatch Embedded Metric Format line per run (stdout).
	Metrics io.Writer
	// FunctionName is the metrics dimension; empty: from the environment or
	// the invoked function ARN.
	FunctionName string
	// Reserve: the run's context ends this long before the Lambda deadline
	// (DefaultReserve when zero); the Runner's WriteMargin comes on top.
	Reserve time.Duration
	// Queue, when set, takes a Continuation for a run that ran out of time;
	// QueueARN is that queue, the only SQS source whose events are accepted.
	Queue            Queue
	QueueARN         string
	MaxContinuations int // DefaultMaxContinuations when zero
	// Links is where each continuation link is claimed, so that a link
	// delivered twice runs and continues once; without it no continuation
	// is run.
	Links Links

	mu sync.Mutex // guards Runner and InitErr when Connect retries
}

// invocation is what one call carries through the handler.
type invocation struct {
	runID string
	log   *slog.Logger // with run_id
	base  *slog.Logger // without run_id, for the Runner (which adds it)
}

// Handle routes an invocation by its shape and returns the run's report
// (README, "Report"). Unsupported or invalid payloads and fatal runs return an
// error of one of the classes in errors.go (Classify), which Lambda reports
// as the errorType; a refused payload is logged with its reason. Requests of
// the stack's own custom resource (CustomResource.Check; any other is
// refused) always get their answer PUT to ResponseURL and return no error:
// CloudFormation already has the outcome, and an error would make Lambda's
// asynchronous retries run and answer again.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (rep onboard.Report, err error) {
	inv := h.newInvocation(ctx)
	defer func() {
		if p := recover(); p != nil {
			inv.log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rep, err = onboard.Report{}, fmt.Errorf("%w (panic: %v); see the log stream, run_id %s", errInternal, p, inv.runID)
		}
		err = Classify(err)
		if refused(err) {
			inv.log.Error("invocation refused", "error_type", errorType(err), "reason", err.Error())
		}
	}()
	ev, err := Parse(payload)
	if err != nil {
		return onboard.Report{}, err
	}
	switch ev := ev.(type) {
	case cfn.Event:
		if err := h.Resource.Check(ev); err != nil {
			return onboard.Report{}, err
		}
		return h.cloudFormation(ctx, inv, ev), nil
	case events.CloudWatchEvent:
		inv.log.Info("scheduled run", "source", ev.Source, "event_id", ev.ID)
		if h.Queue != nil {
			if inFlight, _ := h.chainInFlight(ctx, inv); inFlight {
				// The chain is doing this run's work; a second run beside it
				// would only race it (and could start a second chain). It
				// says so in a metric: deferring is not silence.
				inv.log.Info("a continuation chain is in flight; this scheduled run leaves the work to it")
				rep := onboard.DeferredReport(inv.runID, onboard.TriggerSchedule, "a continuation chain is in flight and does this run's work")
				h.emitMetrics(ctx, inv, rep, signals{deferred: true})
				return rep, nil
			}
		}
		return h.reconcile(ctx, inv, onboard.Request{Trigger: onboard.TriggerSchedule})
	case events.SQSEvent:
		return h.continuation(ctx, inv, ev)
	case Manual:
		inv.log.Info("manual run", "dry_run", ev.DryRun, "account_ids", ev.AccountIDs, "regions", ev.Regions)
		return h.reconcile(ctx, inv, onboard.Request{Trigger: onboard.TriggerManual, DryRun: ev.DryRun, Narrowing: ev.Narrowing})
	}
	return onboard.Report{}, fmt.Errorf("%w: %T", ErrUnsupportedEvent, ev)
}

// Invoke makes the Handler a lambda.Handler (lambda.Start(h)): the payload
// reaches Handle as it came, so one that is not even JSON is refused and
// logged like any other unsupported event, not by aws-lambda-go's decoder.
// The answer is the report bounded (onboard.Report.Bounded: counts, and the
// first onboard.ListBound entries of each list with how many more), far
// under Lambda's 6 MB response limit: past it the invocation fails
// (Function.ResponseSizeTooLarge) and aws-lambda-go ends the process. The
// whole report is in the function's log (onboard.Report.Log).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	rep, err := h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(rep.Bounded(onboard.ListBound))
}

func (h *Handler) newInvocation(ctx context.Context) invocation {
	id := onboard.NewRunID()
	base := h.Logger
	if base == nil {
		base = slog.Default()
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		base = base.With("aws_request_id", lc.AwsRequestID)
	}
	return invocation{runID: id, log: base.With("run_id", id), base: base}
}

// reconcile runs a schedule or manual request, and starts a continuation
// chain if it ran out of time. A panic becomes an InternalError in Handle.
func (h *Handler) reconcile(ctx context.Context, inv invocation, req onboard.Request) (rep onboard.Report, err error) {
	if skip, err := h.held(ctx, inv, req.Trigger); err != nil || skip != nil {
		if skip != nil {
			return *skip, nil
		}
		return onboard.Report{}, err
	}
	rn, err := h.runner(ctx, inv)
	if err != nil {
		return onboard.Report{}, err
	}
	rep, req, err = h.run(ctx, inv, rn, req)
	if err == nil {
		h.continueLater(ctx, inv, req, rep, 0)
	}
	return rep, err
}

// runner returns the Runner, or the cold-start error (retrying it through
// Connect unless it was a configuration error).
func (h *Handler) runner(ctx context.Context, inv invocation) (*onboard.Runner, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Runner != nil {
		return h.Runner, nil
	}
	var cfgErr *config.Error
	if h.InitErr != nil && h.Connect != nil && !errors.As(h.InitErr, &cfgErr) {
		inv.log.Info("retrying the cold start that failed", "error", h.InitErr)
		rn, err := h.Connect(ctx)
		if err == nil {
			h.Runner, h.InitErr = rn, nil
			return rn, nil
		}
		h.InitErr = err
	}
	err := h.InitErr
	if err == nil {
		err = errors.New("no runner configured")
	}
	inv.log.Error("cannot run", "error", err)
	return nil, fmt.Errorf("%w: %w%s", errColdStart, err, hintFor(err))
}

func (h *Handler) initErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Runner != nil {
		return nil
	}
	return h.InitErr
}

// hintFor says where to fix a cold-start error.
func hintFor(err error) string {
	var cfgErr *config.Error
	if errors.As(err, &cfgErr) {
		return fmt.Sprintf(" (fix the function's environment variable %s: the stack parameter that sets it)", cfgErr.Var)
	}
	return ""
}

// run carries out req with the invocation's identity and logger and a
// context that ends Reserve before the Lambda deadline, logs the outcome
// and emits metrics. It returns req as run (with its identity), for a
// continuation.
func (h *Handler) run(ctx context.Context, inv invocation, rn *onboard.Runner, req onboard.Request) (onboard.Report, onboard.Request, error) {
	runCtx, cancel := h.runContext(ctx)
	defer cancel()
	req.RunID, req.Logger = inv.runID, inv.base // the Runner adds run_id itself
	if !req.Disconnect {
		req.Hold = h.hold // a stack Delete's mark stops every other run's writes
	}
	rep, err := rn.Run(runCtx, req)
	if err != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) {
		err = pastDeadline{err}
	}
	g := rep.Registries
	attrs := []any{"trigger", req.Trigger, "dry_run", rep.DryRun, "narrowed", rep.Narrowed, "complete", rep.Complete, "duration_ms", rep.DurationMS,
		"api_calls", rep.APICalls, "rate_limited", rep.RateLimited, "accounts", rep.Accounts.Discovered, "eligible", rep.Accounts.Eligible,
		"skipped", len(rep.Accounts.Skipped), "created", len(g.Created), "updated", len(g.Updated),
		"deleted", len(g.Deleted), "unchanged", g.Unchanged, "not_owned", g.NotOwned.Count, "failed", rep.Failures(),
		"not_attempted", g.NotAttempted + g.DeleteNotAttempted}
	switch {
	case err != nil:
		inv.log.Error("run failed", append(attrs, "error", err)...)
	case !rep.Complete:
		inv.log.Warn("run stopped before the deadline; the next run continues", attrs...)
	default:
		inv.log.Info("run finished", attrs...)
	}
	rep.Log(ctx, inv.log)                                             // the whole report, one line per entry: the answer is bounded
	full := err == nil && rep.Complete && rep.TenantCoverage() != nil // a disconnect judges no coverage
	h.emitMetrics(ctx, inv, rep, signals{fullRun: full})
	return rep, req, err
}

// runContext ends Reserve before ctx's deadline (unchanged without one).
func (h *Handler) runContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := h.Reserve
	if reserve <= 0 {
		reserve = DefaultReserve
	}
	return context.WithDeadline(ctx, d.Add(-reserve))
}

// functionName is the metrics dimension value.
func (h *Handler) functionName(ctx context.Context) string {
	if h.FunctionName != "" {
		return h.FunctionName
	}
	if lambdacontext.FunctionName != "" {
		return lambdacontext.FunctionName
	}
	if n := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); n != "" {
		return n
	}
	// arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		if p := strings.Split(lc.InvokedFunctionArn, ":"); len(p) >= 7 && p[5] == "function" {
			return p[6]
		}
	}
	return "ecr-onboard"
}
