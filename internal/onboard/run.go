package onboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Trigger is what started a run.
type Trigger string

const (
	TriggerSchedule       Trigger = "schedule"
	TriggerCloudFormation Trigger = "cloudformation"
	TriggerManual         Trigger = "manual"
	TriggerCLI            Trigger = "cli"
	TriggerContinuation   Trigger = "continuation" // the rest of a run that ran out of time
)

// Stage is the part of a run a Progress report is about.
type Stage string

const (
	StageAccounts Stage = "accounts" // Done = accounts read
	StagePlan     Stage = "plan"     // Total = planned writes
	StageWrite    Stage = "write"    // Done of Total writes
)

// Progress is reported while a run goes on (for a terminal progress line).
type Progress struct {
	Stage       Stage
	Done, Total int
}

// notifyTimeout bounds publishing a run summary; it has its own context, so
// a run that ended on its deadline still reports.
const notifyTimeout = 5 * time.Second

// Runner runs reconciles with one configuration. It holds no per-run
// state: each Request carries its own identity, logger and progress.
type Runner struct {
	Falcon         Falcon
	Scope          Scope
	Owner          Owner
	Adopt          Owner // an earlier prefix whose registrations Owner takes over (Policy.Adopt)
	DryRun         bool
	MaxConcurrency int
	// WriteMargin: no write starts later than this before the context's
	// deadline, so a run ends with a report instead of being killed mid-write.
	WriteMargin time.Duration
	// CredentialRetry is how a create Falcon answered "failed to validate
	// registry credential" is sent again within the run (zero: never).
	CredentialRetry Retry
	// Prune adds deletions of owned registrations whose account left CSPM
	// or whose region is no longer active.
	Prune bool
	// RegionSource is REGION_SOURCE. With RegionsECRInventory, Falcon must
	// also be an Inventory; it is read only then.
	RegionSource RegionSource
	// Verifier, when set, judges the role of every account a run is about
	// to write for (VERIFY_TRUST).
	Verifier TrustVerifier
	// Resends remembers the credentials runs sent again to registrations
	// Falcon keeps in a verdict (ResendInterval); nil: the process
	// remembers them (MemoryResends).
	Resends Resends
	memory  MemoryResends
	// Clock is the time a run starts at (SetupWindow, ResendInterval);
	// nil: time.Now.
	Clock func() time.Time
	// Notifier, when set, hears of runs that changed or failed something,
	// and of coverage that is not clean (summaries says when).
	Notifier  Notifier
	summaries summaries
	// Meter counts the Falcon client's requests, for the report; nil: not
	// counted.
	Meter Meter
	// HomeAccount and Partition say where the tool runs (for the report).
	HomeAccount, Partition string
	// Logger gets a run's log lines unless its Request brings its own;
	// nil: slog.Default.
	Logger *slog.Logger
	// StartRun, when set, is called at the start of every run, before any
	// API call, with the run's logger (the Falcon client re-reads an API
	// secret older than its bound there).
	StartRun func(ctx context.Context, log *slog.Logger)
}

// Meter counts what a Falcon client sent and how often the tenant's rate
// limit answered 429, since it was made.
type Meter interface {
	APICalls() int64
	RateLimited() int64
}

// TrustVerifier judges an account's CSPM role by its trust policy (VERIFY_TRUST).
type TrustVerifier interface {
	// VerifyTrust returns nil when a's role lets CrowdStrike in only with
	// a's external ID, and otherwise why not (a policy it could not read is
	// refused too).
	VerifyTrust(ctx context.Context, a Account) *Refusal
}

// Notifier publishes a run summary.
type Notifier interface {
	Notify(ctx context.Context, r Report, runErr error) error
}

// Request is one run: its identity, how it narrows the Runner's
// configuration (it can only remove accounts or regions, and only turn dry
// run on), and where it reports as it goes.
type Request struct {
	Trigger    Trigger
	RunID      string // NewRunID when empty
	Continues  string // run ID of the run this one continues
	DryRun     bool
	Narrowing  Narrowing
	Disconnect bool // delete owned registrations instead of reconciling (stack Delete)
	// Logger gets the run's log lines (each with run_id); nil: the
	// Runner's.
	Logger *slog.Logger
	// Progress, when set, hears how far the run is.
	Progress func(Progress)
	// Hold, when set, is asked before each write starts (its "go on" kept
	// HoldRecheck): once it returns an error, no further write of the run
	// starts, and those left are not attempted.
	Hold func(context.Context) error
}

func (req Request) progress(p Progress) {
	if req.Progress != nil {
		req.Progress(p)
	}
}

// Run discovers accounts and registries, plans, and applies the plan (unless
// dry run). It returns an error when the run could not be carried out
// (configuration, access, listing failed: then nothing was written) or was
// stopped by a fatal error; the report says what was done either way.
func (rn *Runner) Run(ctx context.Context, req Request) (Report, error) {
	if req.RunID == "" {
		req.RunID = NewRunID()
	}
	switch {
	case req.Logger != nil:
	case rn.Logger != nil:
		req.Logger = rn.Logger
	default:
		req.Logger = slog.Default()
	}
	req.Logger = req.Logger.With("run_id", req.RunID)
	report, err := rn.run(ctx, req)
	if err != nil {
		report.Stop(err)
	}
	if rn.Notifier != nil && !report.DryRun && rn.summaries.due(report, err, time.Now()) {
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
		defer cancel()
		if nerr := rn.Notifier.Notify(nctx, report, err); nerr != nil {
			req.Logger.Warn("run summary not published", "error", nerr.Error())
		}
	}
	return report, err
}

func (rn *Runner) run(ctx context.Context, req Request) (Report, error) {
	start := time.Now()
	now := start
	if rn.Clock != nil {
		now = rn.Clock()
	}
	log := req.Logger
	calls, limited := rn.meter()
	finish := func(r Report) Report {
		r.RunID, r.Trigger, r.DryRun, r.Continues = req.RunID, req.Trigger, rn.DryRun || req.DryRun, req.Continues
		r.Narrowed, r.Narrowing = req.Narrowing.narrows()
		r.HomeAccount, r.Partition = rn.HomeAccount, rn.Partition
		r.RegionSource = rn.RegionSource
		r.StartedAt = start.UTC()
		r.DurationMS = time.Since(start).Milliseconds()
		c, l := rn.meter()
		r.APICalls, r.RateLimited = c-calls, l-limited
		return r
	}

	if rn.StartRun != nil {
		rn.StartRun(ctx, log)
	}
	policy := Policy{Scope: rn.Scope.Narrow(req.Narrowing), Owner: rn.Owner, Adopt: rn.Adopt, Mode: Reconcile, VerifyTrust: rn.Verifier != nil,
		RegionSource: rn.RegionSource, Now: now}
	switch {
	case req.Disconnect:
		policy.Mode, policy.VerifyTrust = Disconnect, false
	case rn.Prune:
		policy.Mode = Prune
	}
	if policy.Scope.MatchesNothing() {
		log.Warn("nothing in scope", "scope", policy.Scope.String())
	}
	var o Observed
	var err error
	// A disconnect goes by the alias alone: CSPM's accounts are not read,
	// so an outage or a lost scope there cannot keep a Delete from
	// removing what this tool owns.
	if policy.Mode != Disconnect {
		if o.Accounts, err = rn.Falcon.Accounts(ctx); err != nil {
			return finish(unfinished()), fmt.Errorf("listing CSPM accounts: %w", listingFailed{err})
		}
		req.progress(Progress{Stage: StageAccounts, Done: len(o.Accounts)})
	}
	// Fail closed: without the complete list of what exists, a create could
	// duplicate a registration, so nothing is written.
	if o.Registries, err = rn.Falcon.Registries(ctx); err != nil {
		return finish(unfinished()), fmt.Errorf("listing Container Security registries: %w", listingFailed{err})
	}
	if policy.RegionSource == RegionsECRInventory && policy.Mode != Disconnect {
		if o.Repositories, err = rn.repositories(ctx); err != nil {
			return finish(unfinished()), fmt.Errorf("reading ECR repositories from Falcon's cloud asset inventory (REGION_SOURCE=ecr-inventory): %w", err)
		}
	}

	if policy.Mode != Disconnect {
		o.Resends = rn.lastResends(ctx, log, o.Registries)
	}
	plan := NewPlan(o, policy)
	if len(plan.Unconfirmed) > 0 {
		present, absent := rn.confirmAbsent(ctx, log, plan.Unconfirmed)
		o.Accounts, o.Absent = append(o.Accounts, present...), absent
		plan = NewPlan(o, policy)
	}
	if len(plan.Unverified) > 0 {
		o.Trust = rn.verifyTrust(ctx, log, plan.Unverified)
		plan = NewPlan(o, policy)
	}
	req.progress(Progress{Stage: StagePlan, Total: len(plan.Actions)})
	log.Info("planned", "scope", policy.Scope.String(), "region_source", policy.RegionSource.String(),
		"accounts", plan.Discovered, "eligible", len(plan.Eligible), "skipped", len(plan.Skipped), "no_ecr_repository", len(plan.NoRepository), "desired", plan.Desired, "existing", plan.Existing, "not_owned", len(plan.NotOwned),
		"create", plan.Writes(Create), "update", plan.Writes(Update), "delete", plan.Writes(Delete))
	for _, s := range plan.Skipped {
		log.Warn("account skipped", "account_id", s.AccountID, "reason", s.Reason)
	}

	report := newReport(plan)
	report.DryRun = rn.DryRun || req.DryRun
	judged := func(r Report, outcomes []outcome) Report {
		if policy.Mode != Disconnect {
			r.judgeCoverage(plan, outcomes)
		}
		return finish(r)
	}
	if report.DryRun {
		for _, a := range plan.Actions {
			report.add(a, outcome{attempted: true})
		}
		return judged(report, nil), nil
	}

	ap := applier{falcon: rn.writer(req), concurrency: rn.MaxConcurrency, progress: req.progress, owner: rn.Owner,
		retry: rn.CredentialRetry, verdicts: newVerdicts()}
	if d, ok := ctx.Deadline(); ok {
		ap.stopAt = d.Add(-rn.WriteMargin)
	}
	outcomes, err := ap.apply(ctx, plan.Actions)
	rn.recordResends(ctx, log, plan.Actions, outcomes, now)
	for i, a := range plan.Actions {
		report.add(a, outcomes[i])
		switch o := outcomes[i]; {
		case o.err != nil:
			log.Error("registry write failed", "action", a.Kind, "url", a.Registry.URL, "error", failure(a.Registry, o.err).Error)
		case o.attempted:
			log.Info("registry "+string(a.Kind)+"d", "url", a.Registry.URL, "registry_id", o.id, "already_existed", o.existed, "reason", a.Reason)
		}
	}
	if err != nil {
		return judged(report, outcomes), fmt.Errorf("stopped writing: %w (%s)", err, ScopesHint)
	}
	return judged(report, outcomes), nil
}

// resends is where the Runner remembers re-sends.
func (rn *Runner) resends() Resends {
	if rn.Resends != nil {
		return rn.Resends
	}
	return &rn.memory
}

// lastResends reads the last re-sends recorded for the registrations
// Falcon reports trouble with (the only ones a plan may re-send to). When
// they cannot be read, none is known: a registration is then sent its
// credential once more, which is harmless.
func (rn *Runner) lastResends(ctx context.Context, log *slog.Logger, listed []Registry) map[string]Resend {
	var ids []string
	for _, r := range listed {
		if r.Trouble() != "" {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	last, err := rn.resends().LastResends(ctx, ids)
	if err != nil {
		log.Warn("cannot read when credentials were last sent again; registrations Falcon reports unusable are sent theirs now", "error", err.Error())
		return nil
	}
	return last
}

// recordResends remembers the writes Falcon accepted that leave, or may
// leave, a registration in a verdict with CSPM's current credential: every
// re-send (Action.Resend: the verdict may come back after an answer that
// showed none), and every other write after which Falcon showed one. A
// rejected write is not a re-send: the next run sends it again, one per
// credential, until Falcon accepts it.
func (rn *Runner) recordResends(ctx context.Context, log *slog.Logger, actions []Action, outcomes []outcome, now time.Time) {
	var rs []Resend
	for i, a := range actions {
		o := outcomes[i]
		var kv *keptVerdict
		verdict := a.Verdict
		switch {
		case a.Kind == Delete || !o.attempted || o.existed:
			continue
		case errors.As(o.err, &kv) && o.shown != nil:
			verdict = o.shown.verdict()
		case o.err != nil || !a.Resend:
			continue
		}
		id := a.Registry.ID
		if a.Kind == Create {
			id = o.id
		}
		rs = append(rs, Resend{RegistryID: id, Fingerprint: a.Registry.Credential.Fingerprint(), Verdict: verdict, At: now})
	}
	if len(rs) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	if err := rn.resends().RecordResends(rctx, rs); err != nil {
		log.Warn("cannot record the credentials sent again; the next run may send them once more", "error", err.Error())
	}
}

// confirmAbsent asks CSPM for exactly the accounts its listing left out
// (AccountReader) and returns the records that came back — CSPM still has
// those accounts — and the accounts it confirmed gone. When it cannot ask,
// nothing is confirmed gone.
func (rn *Runner) confirmAbsent(ctx context.Context, log *slog.Logger, ids []string) (present []Account, absent map[string]bool) {
	reader, ok := rn.Falcon.(AccountReader)
	if !ok {
		log.Warn("cannot confirm that accounts left CSPM: nothing is pruned for them", "accounts", ids)
		return nil, nil
	}
	records, err := reader.AccountRecords(ctx, ids)
	if err != nil {
		log.Warn("confirming that accounts left CSPM failed: nothing is pruned for them", "accounts", ids, "error", err.Error())
		return nil, nil
	}
	absent = make(map[string]bool, len(ids))
	for _, id := range ids {
		absent[id] = true
	}
	for _, a := range records {
		if absent[a.ID] {
			delete(absent, a.ID)
			present = append(present, a)
		}
	}
	if len(present) > 0 {
		log.Warn("CSPM's listing left out accounts it still has (its pages shifted while read): they are planned as listed", "accounts", len(present))
	}
	return present, absent
}

// repositories reads where the cloud asset inventory lists ECR
// repositories (RegionsECRInventory).
func (rn *Runner) repositories(ctx context.Context) (RepositoryRegions, error) {
	inv, ok := rn.Falcon.(Inventory)
	if !ok {
		return nil, fmt.Errorf("this Falcon client (%T) cannot read the cloud asset inventory", rn.Falcon)
	}
	return inv.ECRRegions(ctx)
}

func (rn *Runner) meter() (calls, rateLimited int64) {
	if rn.Meter == nil {
		return 0, 0
	}
	return rn.Meter.APICalls(), rn.Meter.RateLimited()
}

// verifyTrust asks the Verifier about each account, MaxConcurrency at a
// time, and returns the verdicts by account ID. A verifier that panics
// refuses the account: fail safe.
func (rn *Runner) verifyTrust(ctx context.Context, log *slog.Logger, accounts []Account) map[string]*Refusal {
	var (
		mu       sync.Mutex
		verdicts = make(map[string]*Refusal, len(accounts))
		wg       sync.WaitGroup
		sem      = make(chan struct{}, max(rn.MaxConcurrency, 1))
	)
	for _, a := range accounts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var r *Refusal
			if perr := safely(func() { r = rn.Verifier.VerifyTrust(ctx, a) }); perr != nil {
				r = &Refusal{Reason: "VERIFY_TRUST could not check the role's trust policy: " + perr.Error()}
			}
			if r != nil {
				log.Error("trust policy refused", "account_id", a.ID, "reason", r.Reason)
			}
			mu.Lock()
			verdicts[a.ID] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return verdicts
}

// NewRunID returns a random identifier for a run, for logs and reports.
func NewRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
