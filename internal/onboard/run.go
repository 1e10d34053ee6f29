package onboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Triggers a run can have.
const (
	TriggerSchedule       = "schedule"
	TriggerCloudFormation = "cloudformation"
	TriggerManual         = "manual"
	TriggerCLI            = "cli"
	TriggerContinuation   = "continuation" // the rest of a run that ran out of time
)

// Progress stages.
const (
	StageAccounts = "accounts" // Done = accounts read
	StagePlan     = "plan"     // Total = planned writes
	StageWrite    = "write"    // Done of Total writes
)

// Progress is reported while a run goes on (for a terminal progress line).
type Progress struct {
	Stage       string
	Done, Total int
}

// Runner runs reconciles with one configuration.
type Runner struct {
	Falcon         Falcon
	Scope          Scope
	AliasPrefix    string
	DryRun         bool
	MaxConcurrency int
	// WriteMargin: no write starts later than this before the context's
	// deadline, so a run ends with a report instead of being killed mid-write.
	WriteMargin time.Duration
	// Prune adds deletions of owned registries whose account left CSPM or
	// whose region is no longer active (see Prunes).
	Prune bool
	// Verifier, when set, is asked before an account's registrations are
	// created whether its role can be assumed without an external ID.
	Verifier TrustVerifier
	// Notifier, when set, hears of runs that changed or failed something.
	Notifier Notifier
	// HomeAccount and Partition say where the tool runs (for the report).
	HomeAccount, Partition string
	Logger                 *slog.Logger
	Progress               func(Progress)
}

// TrustVerifier checks a role's trust policy from the outside.
type TrustVerifier interface {
	// AssumableWithoutExternalID tries sts:AssumeRole on roleARN with no
	// external ID; true means the trust policy lacks the condition.
	AssumableWithoutExternalID(ctx context.Context, roleARN string) (bool, error)
}

// Notifier publishes a run summary.
type Notifier interface {
	Notify(ctx context.Context, r Report, runErr error) error
}

// Request is one invocation: its trigger and how it narrows the Runner's
// configuration. Narrowing can only remove accounts or regions, and dry run
// can only be turned on.
type Request struct {
	Trigger    string
	DryRun     bool
	AccountIDs []string
	Regions    []string
	Disconnect bool // delete owned registries instead of reconciling (stack Delete)
	RunID      string
	Continues  string // run ID of the run this one continues
}

// Run discovers accounts and registries, plans, and applies the plan (unless
// dry run). It returns an error when the run could not be carried out
// (configuration, access, listing failed: then nothing was written) or was
// stopped by a fatal error; the report says what was done either way.
func (rn *Runner) Run(ctx context.Context, req Request) (Report, error) {
	report, err := rn.run(ctx, req)
	if rn.Notifier != nil && !report.DryRun && (err != nil || report.Changed() || len(report.Registries.Failed) > 0) {
		if nerr := rn.Notifier.Notify(ctx, report, err); nerr != nil {
			rn.logger().Warn("run summary not published", "run_id", report.RunID, "error", nerr.Error())
		}
	}
	return report, err
}

func (rn *Runner) run(ctx context.Context, req Request) (Report, error) {
	start := time.Now()
	if req.RunID == "" {
		req.RunID = NewRunID()
	}
	log := rn.logger().With("run_id", req.RunID)
	calls0 := rn.Falcon.APICalls()
	finish := func(r Report) Report {
		r.RunID, r.Trigger, r.DryRun, r.Continues = req.RunID, req.Trigger, rn.DryRun || req.DryRun, req.Continues
		r.HomeAccount, r.Partition = rn.HomeAccount, rn.Partition
		r.StartedAt = start.UTC()
		r.DurationMS = time.Since(start).Milliseconds()
		r.APICalls = rn.Falcon.APICalls() - calls0
		return r
	}

	scope := rn.Scope.Narrow(req.AccountIDs, req.Regions)
	accounts, err := rn.Falcon.Accounts(ctx)
	if err != nil {
		return finish(Report{}), fmt.Errorf("listing CSPM accounts: %w", listingFailed{err})
	}
	rn.progress(Progress{Stage: StageAccounts, Done: len(accounts)})
	// Fail closed: without the complete list of what exists, a create could
	// duplicate a registration, so nothing is written.
	existing, err := rn.Falcon.Registries(ctx)
	if err != nil {
		return finish(Report{}), fmt.Errorf("listing Container Security registries: %w", listingFailed{err})
	}

	plan := rn.plan(ctx, log, req, accounts, existing, scope)
	rn.progress(Progress{Stage: StagePlan, Total: len(plan.Actions)})
	log.Info("planned", "accounts", plan.Discovered, "eligible", len(plan.Eligible), "skipped", len(plan.Skipped),
		"desired", plan.Desired, "existing", plan.Existing, "create", plan.Writes(Create),
		"update", plan.Writes(Update), "delete", plan.Writes(Delete))
	for _, s := range plan.Skipped {
		log.Warn("account skipped", "account_id", s.AccountID, "reason", s.Reason)
	}

	report := newReport(plan)
	if rn.DryRun || req.DryRun {
		for _, a := range plan.Actions {
			report.add(a, outcome{attempted: true})
		}
		return finish(report), nil
	}

	ap := applier{falcon: rn.Falcon, concurrency: rn.MaxConcurrency, progress: rn.Progress, aliasPrefix: rn.AliasPrefix}
	if d, ok := ctx.Deadline(); ok {
		ap.stopAt = d.Add(-rn.WriteMargin)
	}
	outcomes, err := ap.apply(ctx, plan.Actions)
	for i, a := range plan.Actions {
		report.add(a, outcomes[i])
		if o := outcomes[i]; o.err != nil {
			log.Error("registry write failed", "action", a.Kind, "url", a.Registry.URL, "error", report.Registries.Failed[len(report.Registries.Failed)-1].Error)
		} else if o.attempted {
			log.Info("registry "+string(a.Kind)+"d", "url", a.Registry.URL, "registry_id", o.id, "already_existed", o.existed)
		}
	}
	if err != nil {
		return finish(report), fmt.Errorf("stopped writing: %w (%s)", err, ScopesHint)
	}
	return finish(report), nil
}

// plan computes the run's plan: disconnect, or reconcile (+ prunes), with
// accounts whose role fails the trust check refused.
func (rn *Runner) plan(ctx context.Context, log *slog.Logger, req Request, accounts []Account, existing []Registry, scope Scope) Plan {
	if req.Disconnect {
		return NewDisconnectPlan(accounts, existing, scope, rn.AliasPrefix)
	}
	plan := NewPlan(accounts, existing, scope, rn.AliasPrefix)
	if rn.Verifier != nil {
		if refused := rn.verifyTrust(ctx, log, plan); len(refused) > 0 {
			accounts = slices.Clone(accounts)
			for i, a := range accounts {
				accounts[i].refused = refused[a.ID]
			}
			plan = NewPlan(accounts, existing, scope, rn.AliasPrefix)
		}
	}
	if rn.Prune {
		plan.Actions = append(plan.Actions, Prunes(accounts, existing, scope, rn.AliasPrefix)...)
	}
	return plan
}

// verifyTrust probes the role of every account the plan would register
// something for, and returns the accounts to refuse, with reasons.
func (rn *Runner) verifyTrust(ctx context.Context, log *slog.Logger, plan Plan) map[string]string {
	roles := map[string]string{} // account -> role, for accounts with creates
	for _, a := range plan.Actions {
		if a.Kind == Create {
			roles[a.Registry.AccountID] = a.Registry.Credential.RoleARN
		}
	}
	var (
		mu      sync.Mutex
		refused = map[string]string{}
		wg      sync.WaitGroup
		sem     = make(chan struct{}, max(rn.MaxConcurrency, 1))
	)
	for id, role := range roles {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var open bool
			var err error
			if perr := safely(func() { open, err = rn.Verifier.AssumableWithoutExternalID(ctx, role) }); perr != nil {
				err = perr
			}
			reason := ""
			switch {
			case err != nil:
				reason = "VERIFY_TRUST could not check the role's trust policy: " + err.Error()
			case open:
				reason = "role " + role + " can be assumed WITHOUT an external ID: add the sts:ExternalId condition to its trust policy before onboarding"
				log.Error("open trust policy", "account_id", id, "role_arn", role)
			default:
				return
			}
			mu.Lock()
			refused[id] = reason
			mu.Unlock()
		}()
	}
	wg.Wait()
	return refused
}

// add records one action's outcome; an action never attempted leaves the
// report incomplete.
func (r *Report) add(a Action, o outcome) {
	g := &r.Registries
	switch {
	case !o.attempted:
		g.NotAttempted++
		r.Complete = false
	case o.err != nil:
		g.Failed = append(g.Failed, failure(a.Registry, o.err))
	case o.existed:
		g.Unchanged++
	case a.Kind == Create:
		g.Created = append(g.Created, ref(a.Registry, o.id))
	case a.Kind == Update:
		g.Updated = append(g.Updated, ref(a.Registry, a.Registry.ID))
	case a.Kind == Delete:
		g.Deleted = append(g.Deleted, ref(a.Registry, a.Registry.ID))
	}
}

func (rn *Runner) progress(p Progress) {
	if rn.Progress != nil {
		rn.Progress(p)
	}
}

func (rn *Runner) logger() *slog.Logger {
	if rn.Logger != nil {
		return rn.Logger
	}
	return slog.Default()
}

// NewRunID returns a random identifier for a run, for logs and reports.
func NewRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
