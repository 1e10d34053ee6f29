package onboard

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
)

// Report is the result of a run (README, "Report"). It never holds an external ID
// or any other secret. In a dry run, Created/Updated/Deleted are what would happen.
type Report struct {
	RunID      string           `json:"run_id"`
	Trigger    Trigger          `json:"trigger"`
	Continues  string           `json:"continues,omitempty"` // run ID this run continues
	DryRun     bool             `json:"dry_run"`
	Complete   bool             `json:"complete"` // false: stopped early (deadline or fatal error); the next run continues
	StartedAt  time.Time        `json:"started_at"`
	DurationMS int64            `json:"duration_ms"`
	Narrowed   bool             `json:"narrowed"`            // the request named accounts or regions (TenantCoverage)
	Narrowing  *Narrowing       `json:"narrowing,omitempty"` // those it named, when Narrowed
	Accounts   AccountsReport   `json:"accounts"`
	Registries RegistriesReport `json:"registries"`
	// Coverage is what the run is judged by; nil for a run that did not
	// plan (it stopped before) or only disconnected (a stack Delete).
	Coverage *Coverage `json:"coverage,omitempty"`
	APICalls int64     `json:"api_calls"`
	// RateLimited counts the answers of 429 this run received (each waited
	// out and retried, or its write left for later).
	RateLimited int64 `json:"rate_limited"`
	// RegionSource is REGION_SOURCE: where the accounts' regions came from.
	RegionSource RegionSource `json:"region_source"`
	// Where the tool ran, when known (AWS account and partition).
	HomeAccount string `json:"home_account,omitempty"`
	Partition   string `json:"partition,omitempty"`
	// Error is the message of the fatal error that stopped the run
	// (Complete is false); absent when the run was carried out.
	Error string `json:"error,omitempty"`
	// Truncated counts, by list (its JSON path, "registries.failed"), the
	// entries a bounded copy of the report leaves out (Bounded); nil in a
	// whole report. A list's count is its length plus this.
	Truncated map[string]int `json:"truncated,omitempty" bound:"-"`
	// Deferred says why this invocation ran nothing, leaving the work to
	// another (a continuation chain in flight) or to none (the stack is
	// being deleted); "" for a run. Only DeferredReport sets it.
	Deferred string `json:"deferred,omitempty"`
}

// AccountsReport counts accounts; Skipped lists refused ones with reasons.
type AccountsReport struct {
	Discovered int    `json:"discovered"`
	Eligible   int    `json:"eligible"`
	Skipped    []Skip `json:"skipped"`
	// NoECRRepository (REGION_SOURCE=ecr-inventory only) counts the
	// accounts in scope with regions but no ECR repository in Falcon's
	// cloud asset inventory in any of them: neither eligible nor skipped.
	NoECRRepository *AccountSample `json:"no_ecr_repository,omitempty"`
}

// AccountSample counts accounts and names a few of them (the first by ID).
type AccountSample struct {
	Count  int      `json:"count"`
	Sample []string `json:"sample"`
}

// RegistriesReport lists what the run did to registries. Its arithmetic
// always holds (see Balanced): every desired registry is exactly one of
// unchanged, created, updated, failed, pending, waiting or not attempted;
// every planned
// deletion exactly one of deleted, delete_failed or delete_not_attempted.
type RegistriesReport struct {
	Desired      int           `json:"desired"`
	Existing     int           `json:"existing"`
	Unchanged    int           `json:"unchanged"`
	Created      []RegistryRef `json:"created"`
	Updated      []RegistryRef `json:"updated"`
	Failed       []Failure     `json:"failed"`        // creates and updates
	NotAttempted int           `json:"not_attempted"` // creates and updates left for the next run
	// Pending: creates and updates whose credential Falcon rejected while
	// the role's trust is likely still being prepared (SetupWindow): not
	// failures yet; the next run retries them.
	Pending []Failure `json:"pending"`
	// Waiting: creates and updates not sent because Falcon rejected the
	// same credential (role ARN and external ID) for another registry in
	// this run, listed under Failed or Pending with the hint; Reason names
	// it. They are sent once Falcon accepts the credential.
	Waiting []RegistryRef `json:"waiting"`
	// Deletions (PRUNE, DISCONNECT_ON_DELETE), counted apart from the
	// desired registries.
	Deleted []RegistryRef `json:"deleted"`
	// Kept (a stack Delete only): owned registrations outside the scope,
	// which the Delete leaves in Falcon.
	Kept               []RegistryRef `json:"kept,omitempty"`
	DeleteFailed       []Failure     `json:"delete_failed"`
	DeleteNotAttempted int           `json:"delete_not_attempted"`
	// Unusable: registrations of desired registries that do not let Falcon
	// assess them (http://: ECR serves only HTTPS), whoever made them; the
	// registry is registered over https beside them.
	Unusable []Failure `json:"unusable"`
	// Paused: desired registrations a person paused in Falcon, whoever
	// made them: never written (counted in Unchanged), even when their
	// credential drifted from CSPM's (Error says so); not assessed until
	// resumed.
	Paused []Failure `json:"paused"`
	// UnknownState: desired registrations in a state this version does not
	// know (StateOf), whoever made them: neither trusted as healthy nor
	// written (counted in Unchanged). Counted by state, the first few named:
	// a whole tenant can be in one such state.
	UnknownState UnknownStates `json:"unknown_state"`
	// NotOwned: desired registries already registered by someone else
	// (counted in Unchanged; never written). Unhealthy lists those whose
	// state Falcon reports as a credential problem, with a hint.
	NotOwned NotOwnedReport `json:"not_owned"`
}

// UnknownStates counts registrations in states this version does not know,
// by state, names the first NoRepositorySample of them (Reason: the state)
// and says what to do.
type UnknownStates struct {
	Count  int            `json:"count"`
	States map[string]int `json:"states"`
	Sample []RegistryRef  `json:"sample"`
	Hint   string         `json:"hint,omitempty"`
}

// NotOwnedReport counts registrations of desired registries this tool did
// not make, and lists the ones Falcon reports a credential problem for.
type NotOwnedReport struct {
	Count     int       `json:"count"`
	Unhealthy []Failure `json:"unhealthy"`
	// OtherPrefix lists those whose alias is this tool's, fingerprint and
	// all, under another ALIAS_PREFIX (Owner.OtherPrefix): orphaned by a
	// change of prefix, so nothing repairs, prunes or disconnects them.
	OtherPrefix []Failure `json:"other_prefix"`
}

// RegistryRef names a registry in a report.
type RegistryRef struct {
	URL        string `json:"url"`
	AccountID  string `json:"account_id"`
	Region     string `json:"region"`
	RegistryID string `json:"registry_id,omitempty"`
	Reason     string `json:"reason,omitempty"` // why an update or delete
}

// Failure is a registry write that did not succeed, with a hint for a person.
type Failure struct {
	URL       string `json:"url"`
	AccountID string `json:"account_id"`
	Region    string `json:"region"`
	Error     string `json:"error"`
	Hint      string `json:"hint,omitempty"`
}

// ExitCode is the CLI's exit status for a finished run: 0 when coverage is
// clean (every desired registry in place or, in a dry run, planned; nothing
// for a person to fix), 3 when some write failed or was left for later, 4
// when nothing failed yet coverage is not clean (accounts skipped, unusable
// registrations, CSPM listing no account: Coverage.Attention says which).
func (r Report) ExitCode() int {
	switch {
	case r.Failures() > 0 || !r.Complete:
		return 3
	case !r.Clean():
		return 4
	}
	return 0
}

// TenantCoverage is the coverage that speaks for the whole configured
// scope: the run's, unless the run judged none or was narrowed — its
// request named accounts or regions (a manual event's account_ids/regions,
// the CLI's --account/--region, a continuation of such a run), so its
// coverage is of that part of the scope only (README, "Only a run over the
// whole scope speaks for the tenant"). The links of one continued run are
// one run: a continuation of a run over the whole scope is not narrowed.
// Every tenant-wide signal reads it: the coverage metrics and their alarm,
// and which verdicts the run summary tells (summaries).
func (r Report) TenantCoverage() *Coverage {
	if r.Narrowed {
		return nil
	}
	return r.Coverage
}

// Clean reports whether the run leaves nothing uncovered and nothing for a
// person to do (Coverage.Clean); a run that did not judge coverage (a
// disconnect, an empty run) is clean when nothing failed.
func (r Report) Clean() bool {
	if r.Coverage == nil {
		return r.Failures() == 0 && r.Complete
	}
	return r.Coverage.Clean
}

// Failures counts the writes that failed, deletions included.
func (r Report) Failures() int {
	g := r.Registries
	return r.count("registries.failed", len(g.Failed)) + r.count("registries.delete_failed", len(g.DeleteFailed))
}

// Balanced reports an error when the report's arithmetic does not hold.
func (r Report) Balanced() error {
	g := r.Registries
	created, updated := r.count("registries.created", len(g.Created)), r.count("registries.updated", len(g.Updated))
	failed, pending := r.count("registries.failed", len(g.Failed)), r.count("registries.pending", len(g.Pending))
	waiting := r.count("registries.waiting", len(g.Waiting))
	if sum := g.Unchanged + created + updated + failed + pending + waiting + g.NotAttempted; sum != g.Desired {
		return fmt.Errorf("desired %d != unchanged %d + created %d + updated %d + failed %d + pending %d + waiting %d + not attempted %d",
			g.Desired, g.Unchanged, created, updated, failed, pending, waiting, g.NotAttempted)
	}
	if g.NotOwned.Count > g.Unchanged {
		return fmt.Errorf("not owned %d > unchanged %d", g.NotOwned.Count, g.Unchanged)
	}
	skipped := r.count("accounts.skipped", len(r.Accounts.Skipped))
	if n := r.Accounts.NoECRRepository; n != nil && n.Count+r.Accounts.Eligible+skipped > r.Accounts.Discovered {
		return fmt.Errorf("no ECR repository %d + eligible %d + skipped %d > discovered %d",
			n.Count, r.Accounts.Eligible, skipped, r.Accounts.Discovered)
	}
	if c := r.Coverage; c != nil && (c.Desired-c.Present != c.Missing.Total() || c.Present < 0) {
		return fmt.Errorf("coverage: desired %d - present %d != missing %d", c.Desired, c.Present, c.Missing.Total())
	}
	if r.Complete && g.NotAttempted+g.DeleteNotAttempted > 0 {
		return fmt.Errorf("complete with %d writes not attempted", g.NotAttempted+g.DeleteNotAttempted)
	}
	return nil
}

// Changed reports whether the run wrote (or, dry, would write) anything.
func (r Report) Changed() bool {
	g := r.Registries
	return r.count("registries.created", len(g.Created))+r.count("registries.updated", len(g.Updated))+
		r.count("registries.deleted", len(g.Deleted)) > 0
}

// count is how many entries the list at path has: listed (its length)
// and those a bounded copy left out (Truncated).
func (r Report) count(path string, listed int) int { return listed + r.Truncated[path] }

// EmptyReport is the report of an invocation that ran nothing (a stack
// Delete that disconnects nothing, a refused request).
func EmptyReport(runID string, trigger Trigger) Report {
	r := emptyReport()
	r.RunID, r.Trigger, r.StartedAt = runID, trigger, time.Now().UTC()
	return r
}

// DeferredReport is the report of an invocation that ran nothing, and why:
// nothing was read or written, and it is not complete.
func DeferredReport(runID string, trigger Trigger, why string) Report {
	r := EmptyReport(runID, trigger)
	r.Complete, r.Deferred = false, why
	return r
}

func emptyReport() Report { return newReport(Plan{}) }

// Stop marks r as the report of a run err stopped: not complete, with
// err's message. The CLI's --json writes such a report for a fatal error
// (README, "Report"), one before the run could start included.
func (r *Report) Stop(err error) {
	r.Complete, r.Error = false, err.Error()
}

// unfinished is the report of a run that stopped before it could plan.
func unfinished() Report {
	r := emptyReport()
	r.Complete = false
	return r
}

func newReport(p Plan) Report {
	r := Report{
		Complete: true,
		Accounts: AccountsReport{Discovered: p.Discovered, Eligible: len(p.Eligible), Skipped: nonNil(p.Skipped)},
		Registries: RegistriesReport{
			Desired: p.Desired, Existing: p.Existing, Unchanged: p.Unchanged,
			Created: []RegistryRef{}, Updated: []RegistryRef{}, Failed: []Failure{}, Pending: []Failure{}, Waiting: []RegistryRef{},
			Deleted: []RegistryRef{}, DeleteFailed: []Failure{},
			NotOwned: NotOwnedReport{Count: len(p.NotOwned), Unhealthy: []Failure{}, OtherPrefix: []Failure{}},
			Unusable: []Failure{}, Paused: []Failure{}, UnknownState: UnknownStates{States: map[string]int{}, Sample: []RegistryRef{}},
		},
	}
	for _, reg := range p.Unusable {
		r.Registries.Unusable = append(r.Registries.Unusable, Failure{URL: reg.URL, AccountID: reg.AccountID, Region: reg.Region,
			Error: fmt.Sprintf("registered as %s (alias %q): ECR serves registries over HTTPS only, so Falcon cannot assess the registry through it", reg.URL, reg.Alias),
			Hint:  fmt.Sprintf("delete registration %s in the Falcon console: the registry is registered over https beside it", reg.ID)})
	}
	for _, o := range p.OtherPrefix {
		r.Registries.NotOwned.OtherPrefix = append(r.Registries.NotOwned.OtherPrefix, Failure{URL: o.URL, AccountID: o.AccountID, Region: o.Region,
			Error: fmt.Sprintf("registered by ecr-onboard under ALIAS_PREFIX=%q (alias %q), not under this configuration's: never repaired, pruned or disconnected here", o.Prefix, o.Alias),
			Hint: fmt.Sprintf("if the prefix was changed, set ALIAS_PREFIX=%s again (a stack: its AliasPrefix parameter) to own it; "+
				"otherwise delete the registration in the Falcon console and the next run registers the registry under this configuration's prefix", o.Prefix)})
	}
	for _, reg := range p.Paused {
		r.Registries.Paused = append(r.Registries.Paused, pausedNote(reg))
	}
	for _, h := range p.Held {
		if h.Settling != "" {
			r.Registries.Pending = append(r.Registries.Pending, heldNote(h))
		} else {
			r.Registries.Failed = append(r.Registries.Failed, heldNote(h))
		}
	}
	if u := &r.Registries.UnknownState; len(p.UnknownState) > 0 {
		u.Count = len(p.UnknownState)
		for i, reg := range p.UnknownState {
			u.States[reg.State]++
			if i < NoRepositorySample {
				u.Sample = append(u.Sample, RegistryRef{URL: reg.URL, AccountID: reg.AccountID, Region: reg.Region, RegistryID: reg.ID,
					Reason: fmt.Sprintf("state %q (alias %q)", reg.State, reg.Alias)})
			}
		}
		u.Hint = "a state this version does not know: neither taken as healthy nor written for it. Look at these in the Falcon console " +
			"(Cloud security, Registry connections); if Falcon cannot use one, delete it and the next run registers the registry again"
	}
	for _, reg := range p.Kept {
		r.Registries.Kept = append(r.Registries.Kept, RegistryRef{URL: reg.URL, AccountID: reg.AccountID, Region: reg.Region, RegistryID: reg.ID,
			Reason: "outside the scope (ACCOUNT_IDS, EXCLUDE_ACCOUNT_IDS, REGIONS): left in Falcon"})
	}
	r.RegionSource = p.RegionSource
	if p.RegionSource == RegionsECRInventory {
		r.Accounts.NoECRRepository = &AccountSample{Count: len(p.NoRepository),
			Sample: nonNil(p.NoRepository[:min(len(p.NoRepository), NoRepositorySample)])}
	}
	for _, reg := range p.NotOwned {
		if trouble := reg.Trouble(); trouble != "" {
			r.Registries.NotOwned.Unhealthy = append(r.Registries.NotOwned.Unhealthy, Failure{
				URL: reg.URL, AccountID: reg.AccountID, Region: reg.Region, Error: trouble,
				Hint: fmt.Sprintf("registered outside ecr-onboard (alias %q), so it is never written here: fix its credential in the Falcon console, "+
					"or delete the registration and the next run registers it with CSPM's credential", reg.Alias),
			})
		}
	}
	return r
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// add records one action's outcome; an action never attempted leaves the
// report incomplete.
func (r *Report) add(a Action, o outcome) {
	g := &r.Registries
	del := a.Kind == Delete
	switch {
	case o.waitsFor != nil:
		w := o.waitsFor.Registry
		g.Waiting = append(g.Waiting, RegistryRef{URL: a.Registry.URL, AccountID: a.Registry.AccountID, Region: a.Registry.Region, RegistryID: a.Registry.ID,
			Reason: fmt.Sprintf("Falcon rejected role %s with CSPM's external ID for %s in this run (its hint says what to fix); sent once Falcon accepts it",
				w.Credential.RoleARN, w.URL)})
	case !o.attempted && del:
		g.DeleteNotAttempted++
		r.Complete = false
	case !o.attempted:
		g.NotAttempted++
		r.Complete = false
	case o.err != nil && del:
		g.DeleteFailed = append(g.DeleteFailed, failure(a.Registry, o.err))
	case o.pending(a):
		g.Pending = append(g.Pending, pendingNote(a, o.err))
	case o.err != nil:
		g.Failed = append(g.Failed, failure(a.Registry, o.err))
	case o.existed:
		g.Unchanged++
		if o.notOwned {
			g.NotOwned.Count++
		}
	case a.Kind == Create:
		g.Created = append(g.Created, ref(a, o.id))
	case a.Kind == Update:
		g.Updated = append(g.Updated, ref(a, a.Registry.ID))
	case del:
		g.Deleted = append(g.Deleted, ref(a, a.Registry.ID))
	}
}

func ref(a Action, id string) RegistryRef {
	r := a.Registry
	return RegistryRef{URL: r.URL, AccountID: r.AccountID, Region: r.Region, RegistryID: id, Reason: a.Reason}
}

// failure describes err for a person, without the external ID even if an
// API error message were to echo it.
func failure(r Registry, err error) Failure {
	msg := err.Error()
	if x := r.Credential.ExternalID; x != "" {
		msg = strings.ReplaceAll(msg, x, "[external-id]")
	}
	return Failure{URL: r.URL, AccountID: r.AccountID, Region: r.Region, Error: msg, Hint: hint(r, err)}
}

func hint(r Registry, err error) string {
	var kv *keptVerdict
	switch {
	case errors.As(err, &kv):
		return verdictHint(r.Credential.RoleARN)
	case errors.Is(err, ErrCredentialRejected):
		return rejectedHint(r, err)
	case errors.Is(err, ErrAccessDenied):
		return ScopesHint
	case errors.Is(err, ErrUncertain):
		return "Falcon did not confirm the write; the next run re-checks and retries it"
	}
	return ""
}

// rejectedHint words what to do about a create whose credential Falcon
// rejected by what the run knows: whether Falcon accepted the same
// credential for another registry (the trust policy lets it in: transient),
// how often it was sent and over how long, and otherwise both causes a
// person can tell apart — a trust policy changed moments ago, which IAM is
// still propagating, or one that does not let the principal in.
func rejectedHint(r Registry, err error) string {
	partition := Partition(r.Region)
	principal, ok := crowdstrike.RegistryAssessmentPrincipal(partition)
	if !ok {
		return fmt.Sprintf("CrowdStrike publishes no registry-assessment principal in partition %s: Container Security cannot assume %s", partition, r.Credential.RoleARN)
	}
	var rj *rejection
	tried := ""
	if errors.As(err, &rj) {
		if rj.accepted {
			return fmt.Sprintf("Falcon accepted the same role and external ID for another registry in this run, so %s's trust policy lets %s in: "+
				"this rejection looks transient (IAM propagation, STS); the next run retries it", r.Credential.RoleARN, principal)
		}
		tried = rj.tried()
	}
	return fmt.Sprintf("Falcon could not assume %s with CSPM's external ID%s. If %s was just added to the role's trust policy, "+
		"IAM may still be propagating the change: the next run retries. Otherwise let %s assume the role: add it to its trust policy "+
		"with the same sts:ExternalId condition CSPM uses (deploy/member/template.yaml for an organisation, deploy/trust-policy.json for one account)",
		r.Credential.RoleARN, tried, principal, principal)
}

// verdictHint says what else Falcon needs when it accepts a registration's
// credential — so the role's trust policy lets the registry-assessment
// principal in — and still reports the registration unusable.
func verdictHint(roleARN string) string {
	return fmt.Sprintf("Falcon assumes %s with CSPM's external ID (it accepted the credential), so the trust policy is not the cause: the role also needs "+
		"read access to ECR — the AWS managed policy AmazonEC2ContainerRegistryReadOnly (deploy/member/template.yaml attaches it) — and no SCP or "+
		"permissions boundary may deny it; the Falcon console (Cloud security, Registry connections) shows Falcon's own message. "+
		"The credential is sent again at most once every %s, and at once when CSPM's record or Falcon's verdict changes",
		roleARN, ResendInterval)
}

// heldNote describes an owned registration Falcon keeps in a verdict after
// its current credential was sent again (HeldRegistration).
func heldNote(h HeldRegistration) Failure {
	next := h.Last.At.Add(ResendInterval)
	f := Failure{URL: h.URL, AccountID: h.AccountID, Region: h.Region,
		Error: fmt.Sprintf("%s; its credential, CSPM's current one, was sent again at %s and Falcon accepted it, yet keeps this verdict: not sent again before %s",
			h.Trouble(), h.Last.At.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339)),
		Hint: verdictHint(h.RoleARN)}
	if h.Settling != "" {
		f.Hint = fmt.Sprintf("%s, so the role may still be being prepared (the member setup attaches AmazonEC2ContainerRegistryReadOnly too). %s", h.Settling, f.Hint)
	}
	return f
}

// pausedNote says, for a person, that a registration is paused and what
// the run did not do for it.
func pausedNote(p PausedRegistration) Failure {
	f := Failure{URL: p.URL, AccountID: p.AccountID, Region: p.Region,
		Error: fmt.Sprintf("paused in Falcon (alias %q): not assessed until resumed, and never written here", p.Alias),
		Hint:  "resume it in the Falcon console (Cloud security, Registry connections) when its registry should be assessed again"}
	if p.Drift != "" {
		f.Error += "; its credential was not repaired: " + p.Drift
		f.Hint += "; the next run then repairs its credential"
	}
	return f
}
