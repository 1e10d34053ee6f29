package onboard

import (
	"slices"
	"time"
)

// ActionKind is what a planned action does to a registry.
type ActionKind string

const (
	Create ActionKind = "create"
	Update ActionKind = "update" // PATCH the credential (and alias) to CSPM's
	Delete ActionKind = "delete"
)

// Action is one planned write. Registry is the desired registration (create,
// update) or the existing one (delete); ID is set for update and delete.
// Reason says why an update or delete is planned.
type Action struct {
	Kind     ActionKind
	Registry Registry
	Reason   string
	// Settling says why the role's trust may still be being prepared
	// (Settling); "" when nothing says so.
	Settling string
	// Resend: an update that sends an owned registration the credential
	// its alias already records, because Falcon keeps it in a verdict
	// (resendDue); Verdict is that verdict (Registry.verdict), for the
	// run's memory of re-sends.
	Resend  bool
	Verdict string
}

// Mode is what a run is for.
type Mode int

const (
	// Reconcile creates and fixes the registrations CSPM's accounts need.
	Reconcile Mode = iota
	// Prune is Reconcile, and deletes owned registrations whose account
	// left CSPM or whose region is no longer active (PRUNE).
	Prune
	// Disconnect deletes the owned registrations of the accounts in scope
	// (a stack Delete with DISCONNECT_ON_DELETE).
	Disconnect
)

// Policy is what a run may do.
type Policy struct {
	Scope Scope
	Owner Owner
	// Adopt is an earlier prefix of the same deployment: its registrations
	// of desired registries are written again under Owner's alias
	// (Owner.Adopts); "" adopts nothing.
	Adopt Owner
	Mode  Mode
	// VerifyTrust: an account the plan writes for must have passed
	// VERIFY_TRUST (a verdict in Observed.Trust). One not yet checked is
	// held back and listed in Plan.Unverified.
	VerifyTrust bool
	// RegionSource says which of an account's regions get a registry
	// (REGION_SOURCE). Pruning always goes by CSPM's active regions.
	RegionSource RegionSource
	// Now is when the plan is made, for SetupWindow; zero: no window (a
	// rejected credential is always a failure).
	Now time.Time
}

// Observed is what a run read: CSPM's account records, Container
// Security's registrations (both complete listings), the verdicts of
// VERIFY_TRUST, by account ID (nil: the account passed), and with
// RegionsECRInventory where the cloud asset inventory lists ECR
// repositories (a complete listing too).
//
// Absent holds the accounts CSPM confirmed it no longer has, asked for by
// ID (AccountReader): PRUNE deletes for an account gone from the listing
// only when it is here.
//
// Resends are the last re-sends runs recorded (Resends), by registration
// ID, for the registrations Falcon keeps in a verdict.
type Observed struct {
	Accounts     []Account
	Registries   []Registry
	Trust        map[string]*Refusal
	Repositories RepositoryRegions
	Absent       map[string]bool
	Resends      map[string]Resend
}

// Plan is the difference between what CSPM says should be registered and
// what Container Security has, within a Policy. It is computed without I/O.
type Plan struct {
	Discovered int       // accounts CSPM lists
	Eligible   []Account // in scope, with a write or a registration to keep
	Skipped    []Skip    // accounts in scope refused, with reasons
	Desired    int       // registries that should exist
	Existing   int       // registries Container Security listed (all types)
	Unchanged  int       // desired registries already right, or registered by someone else
	// Present counts the desired registries of eligible accounts whose
	// registration the plan leaves as it is and Falcon shows usable
	// (Registry.Usable): the coverage a run starts from.
	Present int
	// Held are owned registrations Falcon keeps in a verdict although
	// their alias records CSPM's current credential, which was re-sent
	// less than ResendInterval ago: not written, each a failure (or
	// pending, while the role's trust is likely being prepared).
	Held []HeldRegistration
	// ScopeEmpty says why the scope can select no account ("" when it
	// can select some).
	ScopeEmpty string
	// NotOwned are desired registries registered by someone else (another
	// tool, a person): never written, counted in Unchanged.
	NotOwned []Registry
	Actions  []Action
	// Unverified are accounts the plan would write for that VERIFY_TRUST
	// has not checked yet (Policy.VerifyTrust): skipped until it has.
	Unverified []Account
	// RegionSource is the policy's; with RegionsECRInventory, NoRepository
	// lists the accounts in scope that have regions but no ECR repository
	// in the inventory in any of them: neither eligible nor skipped.
	RegionSource RegionSource
	NoRepository []string
	// Kept (a disconnect only) are the registrations the Owner made that
	// are outside the scope: a stack Delete leaves them in Falcon.
	Kept []Registry
	// Unusable are registrations of desired registries, whoever made them,
	// that do not let Falcon assess them (http://: ECR serves only HTTPS).
	// They cover nothing: the registry is created over https beside them.
	Unusable []Registry
	// Paused are desired registrations a person paused, whoever made them
	// (StateChoice): never written, counted in Unchanged, not assessed
	// until resumed.
	Paused []PausedRegistration
	// UnknownState are desired registrations, whoever made them, in a state
	// this version does not know (StateUnknown): counted in Unchanged,
	// neither trusted as healthy nor written for it.
	UnknownState []Registry
	// OtherPrefix are the registrations of NotOwned whose alias is this
	// tool's under another ALIAS_PREFIX: orphaned by a change of prefix (or
	// another stack's), never repaired, pruned or disconnected here.
	OtherPrefix []OtherPrefix
	// Unconfirmed are the accounts the listing left out whose owned
	// registrations PRUNE would delete, before CSPM confirmed they are gone
	// (Observed.Absent): nothing is deleted for them until it has.
	Unconfirmed []string
	// Unlisted are accounts the scope names that CSPM does not list.
	Unlisted []string
	// SkippedRegistries counts the registries of skipped accounts that
	// the scope wants (where their regions are known), for Coverage.
	SkippedRegistries SkippedRegistries
}

// SkippedRegistries counts, for the accounts a plan skips that need a
// person (Fix) or are being set up (Wait), the registries the scope wants
// of them and how many already have a usable registration.
type SkippedRegistries struct {
	Fix, Wait RegistryCount
}

// RegistryCount is a number of desired registries and how many of them
// are present.
type RegistryCount struct{ Desired, Present int }

func (s *SkippedRegistries) add(action SkipAction, c RegistryCount) {
	n := &s.Fix
	if action == SkipWait {
		n = &s.Wait
	}
	n.Desired += c.Desired
	n.Present += c.Present
}

// Writes counts the plan's actions of a kind.
func (p Plan) Writes(kind ActionKind) int {
	n := 0
	for _, a := range p.Actions {
		if a.Kind == kind {
			n++
		}
	}
	return n
}

// NewPlan is the one planning function: from what was observed and what the
// policy allows, the writes that make Container Security hold one
// registration per eligible account and region in scope, with the
// account's CSPM credential, touching only registrations the policy's
// Owner made.
func NewPlan(o Observed, p Policy) Plan {
	accounts := judge(o.Accounts)
	plan := Plan{Discovered: len(accounts), Existing: len(o.Registries), RegionSource: p.RegionSource, ScopeEmpty: p.Scope.Empty()}
	if p.Mode == Disconnect {
		plan.Actions, plan.Kept = disconnects(o.Registries, p)
		return plan
	}
	existing := indexRegistrations(o.Registries, p.Owner)
	for _, j := range accounts {
		if !p.Scope.HasAccount(j.ID) {
			continue // not this run's: neither eligible nor skipped
		}
		a, refusal := j.Account, j.refusal
		var regions []string
		var noRepository bool
		if refusal == nil {
			regions, noRepository, refusal = regionsOf(a, p, o.Repositories)
		}
		if noRepository {
			plan.NoRepository = append(plan.NoRepository, a.ID)
			continue // regions in scope, no ECR repository in any of them
		}
		if refusal == nil && len(regions) == 0 {
			continue // none of its regions is in scope
		}
		var acc accountPlan
		if refusal == nil {
			acc = planAccount(a, regions, existing, p, o.Resends)
			if p.VerifyTrust && len(acc.actions) > 0 {
				refusal = trustVerdict(o.Trust, a, &plan)
			}
		}
		if refusal != nil {
			s := refusal.skip(a.ID)
			if s.Action != SkipNone {
				plan.SkippedRegistries.add(s.Action, skippedCoverage(a, p, o.Repositories, existing))
			}
			plan.Skipped = append(plan.Skipped, s)
			continue
		}
		a.Regions = regions
		plan.Eligible = append(plan.Eligible, a)
		plan.Desired += len(regions)
		plan.Unchanged += acc.unchanged
		plan.Present += acc.present
		plan.Held = append(plan.Held, acc.held...)
		plan.NotOwned = append(plan.NotOwned, acc.notOwned...)
		plan.Unusable = append(plan.Unusable, acc.unusable...)
		plan.Paused = append(plan.Paused, acc.paused...)
		plan.UnknownState = append(plan.UnknownState, acc.unknown...)
		plan.OtherPrefix = append(plan.OtherPrefix, acc.otherPrefix...)
		plan.Actions = append(plan.Actions, acc.actions...)
	}
	if p.Mode == Prune {
		deletes, unconfirmed := prunes(accounts, o.Registries, o.Absent, p)
		plan.Actions, plan.Unconfirmed = append(plan.Actions, deletes...), unconfirmed
	}
	plan.Unlisted = unlisted(accounts, p.Scope)
	return plan
}

// skippedCoverage counts the registries a skipped account would have in
// scope (its CSPM active regions, or REGIONS when it has none; with
// RegionsECRInventory, only where the inventory lists a repository), and
// how many of them already have a registration Falcon reports nothing
// wrong with. Nothing is planned for them: these are only counted.
func skippedCoverage(a Account, p Policy, repos RepositoryRegions, existing registrations) (c RegistryCount) {
	regions := a.Regions
	if len(regions) == 0 {
		regions = p.Scope.configured
	}
	seen := map[string]bool{}
	for _, region := range regions {
		switch {
		case seen[region] || !ValidAccountID(a.ID) || !p.Scope.HasRegion(region):
			continue
		case p.RegionSource == RegionsECRInventory && !contains(repos[a.ID], region):
			continue
		}
		seen[region] = true
		c.Desired++
		if have := existing.of(a.ID, region).cover; have != nil && have.Usable() {
			c.Present++
		}
	}
	return c
}

// unlisted are the accounts the scope names (ACCOUNT_IDS, a request's
// account_ids) that CSPM does not list: a typo or a lost registration that
// would otherwise plan nothing, quietly.
func unlisted(accounts []judged, s Scope) []string {
	var out []string
	for _, id := range s.named() {
		if !slices.ContainsFunc(accounts, func(j judged) bool { return j.ID == id }) {
			out = append(out, id)
		}
	}
	return out
}

// trustVerdict is VERIFY_TRUST's refusal of a, or nil when it passed. An
// account not checked yet is refused for now and listed in plan.Unverified.
func trustVerdict(verdicts map[string]*Refusal, a Account, plan *Plan) *Refusal {
	r, checked := verdicts[a.ID]
	if !checked {
		plan.Unverified = append(plan.Unverified, a)
		return &Refusal{Reason: "VERIFY_TRUST has not checked this account's role yet"}
	}
	return r
}

// accountPlan is what one account's registrations need.
type accountPlan struct {
	actions   []Action
	unchanged int
	present   int // of unchanged, those Falcon shows usable
	held      []HeldRegistration
	notOwned  []Registry
	unusable  []Registry
	paused    []PausedRegistration
	unknown   []Registry
	// otherPrefix: of notOwned, those under another prefix's alias.
	otherPrefix []OtherPrefix
}

// OtherPrefix is a desired registration whose alias is this tool's under
// another ALIAS_PREFIX, Prefix (Owner.OtherPrefix).
type OtherPrefix struct {
	Registry
	Prefix string
}

// HeldRegistration is an owned registration Falcon keeps in a verdict
// although its alias records CSPM's current credential, which a run sent
// again at Last.At: not sent again before ResendInterval has passed, unless
// CSPM's record or Falcon's verdict changes (resendDue). Settling says why
// the role's trust may still be being prepared ("" when nothing says so).
type HeldRegistration struct {
	Registry
	RoleARN  string // CSPM's, which the registration holds
	Last     Resend
	Settling string
}

// PausedRegistration is a desired registration a person paused in Falcon:
// never written. Drift says what the plan would have repaired in an owned
// one ("" for nothing).
type PausedRegistration struct {
	Registry
	Drift string
}

func planAccount(a Account, regions []string, existing registrations, p Policy, resends map[string]Resend) accountPlan {
	var out accountPlan
	owner, adopt, now := p.Owner, p.Adopt, p.Now
	cred := Credential{RoleARN: a.RoleARN, ExternalID: a.ExternalID}
	for _, region := range regions {
		want, ok := newRegistry(a.ID, region, owner, cred)
		if !ok {
			continue
		}
		there := existing.of(a.ID, region)
		out.unusable = append(out.unusable, there.unusable...)
		have := there.cover
		if have == nil {
			out.actions = append(out.actions, Action{Kind: Create, Registry: want, Settling: settling(a, nil, now)})
			continue
		}
		adopted := owner.Adopts(adopt, *have)
		owned := owner.Owns(*have) || adopted
		switch StateOf(have.State) {
		case StateChoice:
			p := PausedRegistration{Registry: *have}
			switch {
			case adopted:
				p.Drift = owner.AdoptReason(adopt)
			case owned:
				p.Drift = repair(owner, *have, want)
			}
			out.paused = append(out.paused, p)
		case StateUnknown:
			out.unknown = append(out.unknown, *have)
		}
		keep := func() {
			out.unchanged++
			if have.Usable() {
				out.present++
			}
		}
		update := func(reason string) Action {
			want.ID = have.ID
			want.URL = have.URL // a PATCH keeps the registration's own hostname
			return Action{Kind: Update, Registry: want, Reason: reason, Settling: settling(a, have, now)}
		}
		switch {
		case !owned:
			keep()
			out.notOwned = append(out.notOwned, *have)
			if prefix, ok := owner.OtherPrefix(*have); ok {
				out.otherPrefix = append(out.otherPrefix, OtherPrefix{Registry: *have, Prefix: prefix})
			}
		case StateOf(have.State) == StateChoice:
			keep() // a person paused it: left alone, drift and all
		case adopted:
			out.actions = append(out.actions, update(owner.AdoptReason(adopt)))
		case drift(owner, *have, want) != "":
			out.actions = append(out.actions, update(drift(owner, *have, want)))
		case have.Trouble() != "":
			var last *Resend
			if r, ok := resends[have.ID]; ok {
				last = &r
			}
			if !resendDue(*have, want.Credential.Fingerprint(), last, now) {
				out.held = append(out.held, HeldRegistration{Registry: *have, RoleARN: a.RoleARN, Last: *last, Settling: settling(a, have, now)})
				continue
			}
			act := update(have.Trouble() + "; its credential is CSPM's current one: sent again (at most once every " + ResendInterval.String() + ")")
			act.Resend, act.Verdict = true, have.verdict()
			out.actions = append(out.actions, act)
		default:
			keep()
		}
	}
	return out
}

// drift says why an owned registration's credential differs from want's,
// or "". The API never returns a stored credential, so the evidence is the
// fingerprint in the alias; credential details a GET does return are
// evidence too. An absent or masked detail is not.
func drift(owner Owner, have, want Registry) string {
	fp, _ := owner.recorded(have)
	got := have.Credential
	switch {
	case fp == "":
		return "alias records no credential fingerprint (registered by an earlier version)"
	case fp != want.Credential.Fingerprint():
		return "CSPM's role ARN or external ID changed since it was registered"
	case visible(got.RoleARN) && got.RoleARN != want.Credential.RoleARN:
		return "registered role ARN is not CSPM's"
	case visible(got.ExternalID) && got.ExternalID != want.Credential.ExternalID:
		return "registered external ID is not CSPM's"
	}
	return ""
}

// repair says what a run would write an owned registration for: its
// credential's drift, or what Falcon reports against it; "" for nothing.
func repair(owner Owner, have, want Registry) string {
	if why := drift(owner, have, want); why != "" {
		return why
	}
	return have.Trouble()
}

// disconnects deletes every registration owner made, in scope: what a
// stack Delete removes. Ownership is the alias, so it does not matter what
// CSPM lists now (an account deregistered since, or CSPM answering with
// none); a registration with any other alias is not touched, and the
// owner's outside the scope are kept and returned, so the run can say
// exactly what remains.
func disconnects(existing []Registry, p Policy) (deletes []Action, kept []Registry) {
	for _, r := range existing {
		switch {
		case !p.Owner.Owns(r):
		case p.Scope.HasAccount(r.AccountID) && p.Scope.HasRegion(r.Region):
			deletes = append(deletes, Action{Kind: Delete, Registry: r, Reason: "stack deleted with DISCONNECT_ON_DELETE"})
		default:
			kept = append(kept, r)
		}
	}
	return deletes, kept
}

// prunes are the deletions PRUNE asks for: registrations owner made, in
// scope, whose account CSPM no longer has, or whose region is no longer
// among the account's CSPM active regions (never because the cloud asset
// inventory lists no repository in its region: whatever the RegionSource).
// An account the listing left out is gone only once CSPM confirmed it
// (absent); until then it is returned as unconfirmed and nothing of it is
// deleted. An account with no active region at all, or whose record CSPM
// did not return, is left alone (that is CSPM saying nothing, not "none"),
// and so is everything when CSPM lists no account (an empty answer is more
// likely an outage or a lost API scope than an empty organisation).
func prunes(accounts []judged, existing []Registry, absent map[string]bool, p Policy) (deletes []Action, unconfirmed []string) {
	if len(accounts) == 0 {
		return nil, nil
	}
	active := map[string][]string{}
	for _, a := range accounts {
		active[a.ID] = a.Regions
	}
	for _, r := range existing {
		if !p.Owner.Owns(r) || !p.Scope.HasAccount(r.AccountID) || !p.Scope.HasRegion(r.Region) {
			continue
		}
		switch regions, known := active[r.AccountID]; {
		case !known && absent[r.AccountID]:
			deletes = append(deletes, Action{Kind: Delete, Registry: r, Reason: "account no longer in CSPM"})
		case !known && !contains(unconfirmed, r.AccountID):
			unconfirmed = append(unconfirmed, r.AccountID)
		case known && len(regions) > 0 && !contains(regions, r.Region):
			deletes = append(deletes, Action{Kind: Delete, Registry: r, Reason: "region no longer active in CSPM"})
		}
	}
	return deletes, unconfirmed
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
