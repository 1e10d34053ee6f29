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
	// Present counts those with a usable registration in Falcon (in a dry
	// run: before the plan's writes).
	Present int `json:"present"`
	// Percent is Present of Desired, rounded down to a tenth (99.95 is
	// never shown as 100); with nothing desired, 100 when Clean, else 0.
	Percent float64 `json:"percent"`
	Missing Missing `json:"missing"`
	// Clean: every desired registry present (a dry run's planned writes
	// are not), no account in scope skipped for a cause a person must fix,
	// and CSPM listed at least one account. Attention says, for a person,
	// why not.
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
	// Failed and NotAttempted are the run's own writes (the report's
	// registries.failed and registries.not_attempted).
	Failed       int `json:"failed"`
	NotAttempted int `json:"not_attempted"`
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
	return m.AccountSkipped + m.Pending + m.Failed + m.NotAttempted + m.Unusable + m.Paused + m.Planned
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
// the outcomes already in r.
func (r *Report) judgeCoverage(p Plan) {
	g := r.Registries
	c := Coverage{Desired: p.Desired, Attention: []string{}}
	unusable := len(g.NotOwned.Unhealthy) // someone else's, Falcon reports in trouble
	written := len(g.Created) + len(g.Updated)
	c.Missing.Paused = len(p.Paused)
	c.Present = g.Unchanged - unusable - c.Missing.Paused
	if r.DryRun {
		c.Missing.Planned = written
	} else {
		c.Present += written
	}
	c.Missing.Unusable = unusable
	c.Missing.Failed, c.Missing.NotAttempted, c.Missing.Pending = len(g.Failed), g.NotAttempted, len(g.Pending)

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
	c.Missing.AccountSkipped = sk.Fix.Desired - sk.Fix.Present
	c.Missing.Pending += sk.Wait.Desired - sk.Wait.Present

	attention := func(format string, args ...any) { c.Attention = append(c.Attention, fmt.Sprintf(format, args...)) }
	if p.Discovered == 0 {
		attention("CSPM lists no AWS account: the API client may lack the scope CSPM registration: Read, or the tenant's accounts are registered through another API")
	}
	if len(p.Unlisted) > 0 {
		attention("ACCOUNT_IDS or the request names %d account(s) CSPM does not list: %s", len(p.Unlisted), strings.Join(p.Unlisted, ", "))
	}
	m := c.Missing
	for _, a := range []struct {
		n      int
		format string
	}{
		{fix, "%d account(s) skipped for a cause a person must fix (accounts.skipped, action \"fix\"); exclude an account with EXCLUDE_ACCOUNT_IDS to accept it"},
		{wait, "%d account(s) still being set up; a later run covers them (accounts.skipped, action \"wait\")"},
		{m.Failed, "%d registration(s) failed (registries.failed, each with a hint)"},
		{len(g.Pending), "%d registration(s) wait for their role's trust to be prepared (registries.pending); a later run registers them"},
		{m.NotAttempted, "%d write(s) left for the next run"},
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
	switch {
	case c.Desired > 0:
		c.Percent = float64(c.Present*1000/c.Desired) / 10
	case c.Clean:
		c.Percent = 100
	}
	r.Coverage = &c
}
