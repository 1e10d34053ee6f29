package onboard

import (
	"fmt"
	"slices"
	"strings"
)

// Scope narrows a run. Empty lists mean "no restriction".
type Scope struct {
	AccountIDs        []string // only these accounts
	ExcludeAccountIDs []string // never these accounts
	Regions           []string // only these regions
}

// Narrow intersects s with a narrower request (a manual event or CLI flags):
// the result never includes an account or region s excludes.
func (s Scope) Narrow(accountIDs, regions []string) Scope {
	return Scope{
		AccountIDs:        intersect(s.AccountIDs, accountIDs),
		ExcludeAccountIDs: s.ExcludeAccountIDs,
		Regions:           intersect(s.Regions, regions),
	}
}

// intersect narrows allowlist base by req; an empty list allows everything,
// so narrowing to nothing in common must not fall back to "everything".
func intersect(base, req []string) []string {
	switch {
	case len(req) == 0:
		return base
	case len(base) == 0:
		return req
	}
	out := []string{}
	for _, v := range req {
		if slices.Contains(base, v) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return []string{"-"} // matches no account or region
	}
	return out
}

func (s Scope) hasAccount(id string) bool {
	return (len(s.AccountIDs) == 0 || slices.Contains(s.AccountIDs, id)) && !slices.Contains(s.ExcludeAccountIDs, id)
}

// ActionKind is what a planned action does to a registry.
type ActionKind string

const (
	Create ActionKind = "create"
	Update ActionKind = "update" // PATCH the credential to CSPM's
	Delete ActionKind = "delete"
)

// Action is one planned write. Registry is the desired registration (create,
// update) or the existing one (delete); ID is set for update and delete.
// Reason says why an update or delete is planned.
type Action struct {
	Kind     ActionKind
	Registry Registry
	Reason   string
}

// Plan is the difference between what CSPM says should be registered and
// what Container Security has. It is computed without I/O.
type Plan struct {
	Discovered int // accounts CSPM returned
	Eligible   []Account
	Skipped    []Skip // accounts refused, with reasons
	Desired    int    // registries that should exist
	Existing   int    // registries Container Security listed (all types)
	Unchanged  int    // desired registries already correct, or registered by someone else
	// NotOwned are desired registries registered by someone else (another
	// tool, a person): never written, counted in Unchanged.
	NotOwned []Registry
	Actions  []Action
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

// NewPlan computes the registrations to create or fix so that every eligible
// account in scope has one registry per region, with its CSPM credential.
func NewPlan(accounts []Account, existing []Registry, scope Scope, owner Owner) Plan {
	p := Plan{Discovered: len(accounts), Existing: len(existing)}
	p.Eligible, p.Skipped = eligible(accounts, scope)
	byURL := indexByURL(existing, owner)
	for _, a := range p.Eligible {
		for _, region := range a.Regions {
			cred := Credential{RoleARN: a.RoleARN, ExternalID: a.ExternalID}
			want := Registry{
				URL:        RegistryURL(a.ID, region),
				AccountID:  a.ID,
				Region:     region,
				Alias:      owner.Alias(a.ID, region, cred),
				Credential: cred,
			}
			p.Desired++
			have, ok := byURL[want.URL]
			switch {
			case !ok:
				p.Actions = append(p.Actions, Action{Kind: Create, Registry: want})
			case !owner.Owns(have):
				p.Unchanged++
				p.NotOwned = append(p.NotOwned, have)
			default:
				if why := drift(owner, have, want); why != "" {
					want.ID = have.ID
					p.Actions = append(p.Actions, Action{Kind: Update, Registry: want, Reason: why})
				} else {
					p.Unchanged++
				}
			}
		}
	}
	return p
}

// drift says why an owned registration must be written again with want's
// credential, or "". The API never returns a stored credential, so the
// evidence is the fingerprint in the alias; credential details a GET does
// return, and what Falcon says of the credential, are evidence too. An
// absent or masked detail is not.
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
	return have.Trouble()
}

// NewDisconnectPlan deletes the registries this tool owns for accounts CSPM
// still knows and that are in scope: what a stack Delete removes. A registry
// without this tool's alias, or of an account CSPM does not list, is kept.
func NewDisconnectPlan(accounts []Account, existing []Registry, scope Scope, owner Owner) Plan {
	p := Plan{Discovered: len(accounts), Existing: len(existing)}
	known := map[string]bool{}
	for _, a := range accounts {
		known[a.ID] = true
	}
	for _, r := range existing {
		if owner.Owns(r) && known[r.AccountID] && scope.hasAccount(r.AccountID) &&
			(len(scope.Regions) == 0 || slices.Contains(scope.Regions, r.Region)) {
			p.Actions = append(p.Actions, Action{Kind: Delete, Registry: r, Reason: "stack deleted with DISCONNECT_ON_DELETE"})
		}
	}
	return p
}

// Prunes are the deletions PRUNE asks for: registries this tool owns, in
// scope, whose account CSPM no longer lists, or whose region is no longer
// among the account's CSPM active regions. An account with no active region
// at all is left alone (that is CSPM saying nothing, not "none"), and so is
// everything when CSPM lists no account (an empty answer is more likely an
// outage or a lost API scope than an empty organisation).
func Prunes(accounts []Account, existing []Registry, scope Scope, owner Owner) []Action {
	if len(accounts) == 0 {
		return nil
	}
	active := map[string][]string{}
	for _, a := range accounts {
		active[a.ID] = append(active[a.ID], a.Regions...)
	}
	var out []Action
	for _, r := range existing {
		if !owner.Owns(r) || !scope.hasAccount(r.AccountID) ||
			(len(scope.Regions) > 0 && !slices.Contains(scope.Regions, r.Region)) {
			continue
		}
		switch regions, known := active[r.AccountID]; {
		case !known:
			out = append(out, Action{Kind: Delete, Registry: r, Reason: "account no longer in CSPM"})
		case len(regions) > 0 && !slices.Contains(regions, r.Region):
			out = append(out, Action{Kind: Delete, Registry: r, Reason: "region no longer active in CSPM"})
		}
	}
	return out
}

// indexByURL maps normalized URL to the existing registration; when a URL is
// registered twice, the one this tool owns wins.
func indexByURL(existing []Registry, owner Owner) map[string]Registry {
	m := make(map[string]Registry, len(existing))
	for _, r := range existing {
		u := NormalizeURL(r.URL)
		if prev, ok := m[u]; ok && (owner.Owns(prev) || !owner.Owns(r)) {
			continue
		}
		m[u] = r
	}
	return m
}

// eligible applies scope and the confused-deputy rules. Accounts outside the
// scope are neither eligible nor skipped: they are simply not this run's.
func eligible(accounts []Account, scope Scope) ([]Account, []Skip) {
	sharers := map[string]int{} // external ID -> accounts using it, over all of CSPM
	byID := map[string][]Account{}
	for _, a := range accounts {
		if a.ExternalID != "" {
			sharers[a.ExternalID]++
		}
		byID[a.ID] = append(byID[a.ID], a)
	}
	var in []Account
	var skipped []Skip
	seen := map[string]bool{}
	for _, a := range accounts {
		if !scope.hasAccount(a.ID) || seen[a.ID] {
			continue
		}
		seen[a.ID] = true
		reason := a.check()
		switch {
		case reason != "":
		case len(byID[a.ID]) > 1 && !sameCredential(byID[a.ID]):
			reason = "CSPM lists this account more than once with different credentials"
		case sharers[a.ExternalID] > 1:
			reason = sharedReason(sharers[a.ExternalID] - 1)
		}
		if reason != "" {
			skipped = append(skipped, Skip{AccountID: a.ID, Reason: reason})
			continue
		}
		regions, reason := regionsOf(a, scope)
		if reason != "" {
			skipped = append(skipped, Skip{AccountID: a.ID, Reason: reason})
			continue
		}
		if len(regions) == 0 {
			continue // none of its regions is in scope
		}
		a.Regions = regions
		in = append(in, a)
	}
	slices.SortFunc(in, func(x, y Account) int { return strings.Compare(x.ID, y.ID) })
	return in, skipped
}

// Judge finds account id in CSPM's listing and judges its record by the
// confused-deputy rules a run skips accounts by, with external IDs compared
// over all of CSPM's accounts. ok is false when CSPM does not list id.
func Judge(accounts []Account, id string) (a Account, r *Refusal, ok bool) {
	var records []Account
	for _, o := range accounts {
		if o.ID == id {
			records = append(records, o)
		}
	}
	if len(records) == 0 {
		return Account{}, nil, false
	}
	a = records[0]
	others := map[string]bool{}
	for _, o := range accounts {
		if o.ID != a.ID && o.ExternalID == a.ExternalID {
			others[o.ID] = true
		}
	}
	switch reason := a.check(); {
	case reason != "":
		return a, &Refusal{Reason: reason}, true
	case !sameCredential(records):
		return a, &Refusal{Reason: "CSPM lists this account more than once with different credentials"}, true
	case len(others) > 0:
		return a, &Refusal{Reason: sharedReason(len(others))}, true
	}
	return a, nil, true
}

func sharedReason(others int) string {
	return fmt.Sprintf("external ID is shared with %d other CSPM account(s); every sharer is skipped", others)
}

func sameCredential(as []Account) bool {
	for _, a := range as[1:] {
		if a.RoleARN != as[0].RoleARN || a.ExternalID != as[0].ExternalID {
			return false
		}
	}
	return true
}

// regionsOf is the account's regions for this run: CSPM's active regions
// within scope, in the role's partition (a role cannot serve another
// partition's registries), sorted and unique.
func regionsOf(a Account, scope Scope) ([]string, string) {
	regions := a.Regions
	if len(regions) == 0 {
		if len(scope.Regions) == 0 {
			return nil, "CSPM lists no active region for this account (set REGIONS to onboard it anyway)"
		}
		regions = scope.Regions
	}
	partition, _, _ := ParseRoleARN(a.RoleARN)
	var out, other []string
	for _, r := range regions {
		switch {
		case len(scope.Regions) > 0 && !slices.Contains(scope.Regions, r):
		case Partition(r) != partition:
			other = append(other, r)
		default:
			out = append(out, r)
		}
	}
	if len(out) == 0 && len(other) > 0 {
		return nil, fmt.Sprintf("CSPM active regions %s are not in the role's partition %q", strings.Join(other, ", "), partition)
	}
	slices.Sort(out)
	return slices.Compact(out), ""
}
