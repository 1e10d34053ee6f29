package onboard

import (
	"fmt"
	"strings"
)

// Coverage is the outcome a run is judged by (README, "Report"): of the ECR
// registries the scope wants assessed — one per region of every CSPM account
// in scope, skipped accounts included where their regions are known — how
// many have a usable registration in Container Security after the run, and
// why the others do not. Every signal a run gives (the CLI's exit code, the
// SNS summary, the EMF metrics and their alarm, CloudFormation's Data) reads
// it from here.
type Coverage struct {
	// Desired counts the registries the scope wants. Regions of accounts
	// Container Security cannot assess at all (Skip.Action "none") are not
	// desired.
	Desired int `json:"desired"`
	// Present counts those whose registration Falcon shows usable
	// (Registry.Usable): as listed before the run for what the run left as
	// it was, and as Falcon's answer or a read by ID showed it after the
	// write for what the run wrote. In a dry run: as listed before it.
	Present int `json:"present"`
	// Percent is Present of Desired, rounded down to a tenth (99.95 is
	// never shown as 100); 0 when nothing is desired.
	Percent float64 `json:"percent"`
	Missing Missing `json:"missing"`
	// Clean: at least one registry desired and every desired registry
	// present (a dry run's planned writes are not), and no account in
	// scope skipped for a cause a person must fix. Attention says, for a
	// person, why not.
	Clean     bool     `json:"clean"`
	Attention []string `json:"attention"`
}

// Missing counts the desired registries without a usable registration, by
// cause; they add up to Coverage.Desired - Coverage.Present.
type Missing struct {
	// AccountSkipped: the account was skipped for a cause a person must
	// fix (Skip.Action "fix").
	AccountSkipped int `json:"account_skipped"`
	// Pending: the account is still being set up (Skip.Action "wait"),
	// or its role's trust is (registries.pending); a later run registers
	// them without anyone's help.
	Pending int `json:"pending"`
	// Failed: the run's writes that failed, and owned registrations
	// Falcon keeps in a verdict after their current credential was sent
	// again (registries.failed).
	Failed int `json:"failed"`
	// Waiting: writes not sent because Falcon rejected the same
	// credential for another registry (registries.waiting).
	Waiting int `json:"waiting"`
	// NotAttempted: writes left for the next run (registries.not_attempted).
	NotAttempted int `json:"not_attempted"`
	// Unconfirmed: writes Falcon accepted whose registration could not be
	// read back to show its state; the next run's listing shows it.
	Unconfirmed int `json:"unconfirmed"`
	// Unusable: registered by someone else, and Falcon reports the
	// registration unusable (registries.not_owned.unhealthy); never
	// written here.
	Unusable int `json:"unusable"`
	// Paused: a person paused the registration in Falcon
	// (registries.paused): not assessed until resumed, never written here.
	Paused int `json:"paused"`
	// Planned (dry run only): the plan would create or fix them.
	Planned int `json:"planned"`
}

// Total is the number of desired registries missing.
func (m Missing) Total() int {
	return m.AccountSkipped + m.Pending + m.Failed + m.Waiting + m.NotAttempted + m.Unconfirmed + m.Unusable + m.Paused + m.Planned
}

// SkipAction says what a skipped account needs before it can be covered.
type SkipAction string

const (
	// SkipFix: a person must fix something (CSPM's record, the role, the
	// trust policy) or exclude the account (EXCLUDE_ACCOUNT_IDS). The zero
	// Refusal is one: a refusal nobody classified raises attention.
	SkipFix SkipAction = "fix"
	// SkipWait: the account is being set up; a later run covers it.
	SkipWait SkipAction = "wait"
	// SkipNone: Container Security cannot assess this account's registries
	// at all (its partition has no registry-assessment principal); its
	// regions are not desired, and it raises nothing.
	SkipNone SkipAction = "none"
)

// judgeCoverage computes r's coverage from the plan it carried out and
// what Falcon showed of each write (outcomes, one per plan action; nil in a
// dry run). Every desired registry is counted exactly once: present, or
// missing for one cause.
func (r *Report) judgeCoverage(p Plan, outcomes []outcome) {
	g := r.Registries
	c := Coverage{Desired: p.Desired, Present: p.Present, Attention: []string{}}
	m := &c.Missing
	// What the plan left as it was and Falcon does not show usable: paused,
	// or registered by someone else and in trouble.
	m.Paused = len(p.Paused)
	m.Unusable = p.Unchanged - p.Present - m.Paused
	for _, h := range p.Held {
		if h.Settling != "" {
			m.Pending++
		} else {
			m.Failed++
		}
	}
	for i, a := range p.Actions {
		if a.Kind == Delete {
			continue
		}
		if outcomes == nil {
			m.Planned++
			continue
		}
		switch o := outcomes[i]; {
		case o.waitsFor != nil:
			m.Waiting++
		case !o.attempted:
			m.NotAttempted++
		case o.pending(a):
			m.Pending++
		case o.err != nil:
			m.Failed++
		case o.shown == nil:
			m.Unconfirmed++
		case o.shown.Usable():
			c.Present++
		case o.notOwned:
			m.Unusable++
		default:
			m.Failed++ // another run of this tool made it meanwhile, and Falcon shows it unusable
		}
	}

	fix, wait := 0, 0
	for _, s := range r.Accounts.Skipped {
		switch s.Action {
		case SkipWait:
			wait++
		case SkipNone:
		default:
			fix++
		}
	}
	sk := p.SkippedRegistries
	c.Desired += sk.Fix.Desired + sk.Wait.Desired
	c.Present += sk.Fix.Present + sk.Wait.Present
	m.AccountSkipped = sk.Fix.Desired - sk.Fix.Present
	m.Pending += sk.Wait.Desired - sk.Wait.Present

	attention := func(format string, args ...any) { c.Attention = append(c.Attention, fmt.Sprintf(format, args...)) }
	if c.Desired == 0 {
		attention("%s", nothingDesired(p))
	}
	if len(p.Unlisted) > 0 {
		attention("ACCOUNT_IDS or the request names %d account(s) CSPM does not list: %s", len(p.Unlisted), strings.Join(p.Unlisted, ", "))
	}
	for _, a := range []struct {
		n      int
		format string
	}{
		{fix, "%d account(s) skipped for a cause a person must fix (accounts.skipped, action \"fix\"); exclude an account with EXCLUDE_ACCOUNT_IDS to accept it"},
		{wait, "%d account(s) still being set up; a later run covers them (accounts.skipped, action \"wait\")"},
		{m.Failed, "%d registration(s) failed (registries.failed, each with a hint)"},
		{len(g.Pending), "%d registration(s) wait for their role to be prepared (registries.pending); a later run registers them"},
		{m.Waiting, "%d registration(s) not sent: Falcon rejected their role and external ID for another registry (registries.waiting; the hint is that registry's)"},
		{m.NotAttempted, "%d write(s) left for the next run"},
		{m.Unconfirmed, "%d write(s) Falcon accepted could not be read back to show their state; the next run's listing shows it"},
		{m.Unusable, "%d registration(s) made outside ecr-onboard are unusable (registries.not_owned.unhealthy)"},
		// They cover their registries today, but nothing repairs them any
		// more: ALIAS_PREFIX changed since they were made.
		{len(p.OtherPrefix), "%d registration(s) carry this tool's alias under another ALIAS_PREFIX and are no longer maintained (registries.not_owned.other_prefix)"},
		{m.Paused, "%d registration(s) paused in Falcon: not assessed until resumed (registries.paused)"},
		{m.Planned, "%d registration(s) missing or drifted that this dry run would create or fix (registries.created, registries.updated)"},
	} {
		if a.n > 0 {
			attention(a.format, a.n)
		}
	}
	c.Clean = len(c.Attention) == 0 && m.Total() == 0
	if c.Desired > 0 {
		c.Percent = float64(c.Present*1000/c.Desired) / 10
	}
	r.Coverage = &c
}

// nothingDesired says why a plan wants no registry at all: a run that
// selects nothing covers nothing, and is never clean.
func nothingDesired(p Plan) string {
	switch {
	case p.ScopeEmpty != "":
		return "nothing is in scope: " + p.ScopeEmpty
	case p.Discovered == 0:
		return "CSPM lists no AWS account: the API client may lack the scope CSPM registration: Read, or the tenant's accounts are registered through another API"
	case p.RegionSource == RegionsECRInventory && len(p.NoRepository) > 0 && len(p.Eligible) == 0 && len(p.Skipped) == 0:
		return fmt.Sprintf("Falcon's cloud asset inventory lists no ECR repository for any of the %d account(s) in scope (accounts.no_ecr_repository): "+
			"the API client may lack the scope Cloud Security API Assets: Read, or Falcon has not scanned them yet; REGION_SOURCE=active registers every active region",
			len(p.NoRepository))
	}
	return fmt.Sprintf("none of the %d account(s) CSPM lists has a registry in scope to assess: every one is out of scope (ACCOUNT_IDS, EXCLUDE_ACCOUNT_IDS, REGIONS), "+
		"skipped, or without a region in scope", p.Discovered)
}
