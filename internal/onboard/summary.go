package onboard

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// summaryListMax is how many registrations of a kind that may be a whole
// tenant's (paused, in a state this version does not know, http://) the
// summary names; the report lists them all.
const summaryListMax = 10

// WriteSummary prints the report for a person: counts first, then every
// write, failure (with its hint) and skipped account.
func (r Report) WriteSummary(w io.Writer) {
	g := r.Registries
	would, title := "", "run"
	if r.DryRun {
		would, title = "would be ", "dry run (nothing written)"
	}
	fmt.Fprintf(w, "ecr-onboard %s %s (%s): %d ms, %d API calls (%d answered 429)\n", title, r.RunID, r.Trigger, r.DurationMS, r.APICalls, r.RateLimited)
	fmt.Fprintf(w, "  accounts:   %d discovered, %d eligible, %d skipped", r.Accounts.Discovered, r.Accounts.Eligible, len(r.Accounts.Skipped))
	if n := r.Accounts.NoECRRepository; n != nil {
		fmt.Fprintf(w, ", %d without an ECR repository in the inventory", n.Count)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  registries: %d desired, %d listed in Falcon, %d unchanged, %d %screated, %d %supdated, %d %sdeleted, %d failed\n",
		g.Desired, g.Existing, g.Unchanged, len(g.Created), would, len(g.Updated), would, len(g.Deleted), would, r.Failures())
	if n := g.NotAttempted + g.DeleteNotAttempted; n > 0 {
		fmt.Fprintf(w, "  incomplete: %d planned writes not attempted; the next run continues\n", n)
	}
	r.Coverage.writeSummary(w)
	for _, s := range []struct {
		verb string
		refs []RegistryRef
	}{{"created", g.Created}, {"updated", g.Updated}, {"deleted", g.Deleted}} {
		if len(s.refs) > 0 {
			fmt.Fprintf(w, "\n%s%s (%d)\n", would, s.verb, len(s.refs))
		}
		for _, x := range s.refs {
			fmt.Fprintf(w, "  %s  %s\n", x.URL, x.RegistryID)
			if x.Reason != "" {
				fmt.Fprintf(w, "    why: %s\n", x.Reason)
			}
		}
	}
	if n := g.NotOwned; n.Count > 0 {
		fmt.Fprintf(w, "\nregistered by someone else, never written here (%d; counted as unchanged)\n", n.Count)
		for _, f := range append(append([]Failure{}, n.Unhealthy...), n.OtherPrefix...) {
			fmt.Fprintf(w, "  %s\n    state: %s\n    hint:  %s\n", f.URL, f.Error, f.Hint)
		}
	}
	for _, s := range []struct {
		title string
		notes []Failure
	}{
		{"paused in Falcon, left alone", g.Paused},
		{"registrations that cover nothing (http://)", g.Unusable},
	} {
		if len(s.notes) > 0 {
			fmt.Fprintf(w, "\n%s (%d)\n", s.title, len(s.notes))
		}
		// A whole tenant can be in one state this version does not know:
		// the first few say what it is, the report lists them all.
		for _, f := range s.notes[:min(len(s.notes), summaryListMax)] {
			fmt.Fprintf(w, "  %s\n    state: %s\n    hint:  %s\n", f.URL, f.Error, f.Hint)
		}
		if n := len(s.notes) - summaryListMax; n > 0 {
			fmt.Fprintf(w, "  … (%d more in the report)\n", n)
		}
	}
	if u := g.UnknownState; u.Count > 0 {
		states := make([]string, 0, len(u.States))
		for st, n := range u.States {
			states = append(states, fmt.Sprintf("%q x %d", st, n))
		}
		slices.Sort(states)
		fmt.Fprintf(w, "\nin a state this version does not know (%d: %s)\n", u.Count, strings.Join(states, ", "))
		for _, x := range u.Sample {
			fmt.Fprintf(w, "  %s  %s\n", x.URL, x.Reason)
		}
		if n := u.Count - len(u.Sample); n > 0 {
			fmt.Fprintf(w, "  … (%d more)\n", n)
		}
		fmt.Fprintf(w, "  hint:  %s\n", u.Hint)
	}
	if len(g.Kept) > 0 {
		fmt.Fprintf(w, "\nowned, outside the scope, left in Falcon (%d)\n", len(g.Kept))
		for _, x := range g.Kept {
			fmt.Fprintf(w, "  %s  %s\n", x.URL, x.RegistryID)
		}
	}
	if len(g.Pending) > 0 {
		fmt.Fprintf(w, "\nwaiting for the role's trust to be prepared (%d; not failures yet)\n", len(g.Pending))
	}
	for _, f := range g.Pending {
		fmt.Fprintf(w, "  %s\n    error: %s\n    hint:  %s\n", f.URL, f.Error, f.Hint)
	}
	if len(g.Waiting) > 0 {
		fmt.Fprintf(w, "\nnot sent: waiting for a role Falcon rejected for another registry (%d)\n", len(g.Waiting))
	}
	for _, x := range g.Waiting[:min(len(g.Waiting), summaryListMax)] {
		fmt.Fprintf(w, "  %s\n    why: %s\n", x.URL, x.Reason)
	}
	if n := len(g.Waiting) - summaryListMax; n > 0 {
		fmt.Fprintf(w, "  … (%d more in the report)\n", n)
	}
	failed := append(append([]Failure{}, g.Failed...), g.DeleteFailed...)
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nfailed (%d)\n", len(failed))
	}
	for _, f := range failed {
		fmt.Fprintf(w, "  %s\n    error: %s\n", f.URL, f.Error)
		if f.Hint != "" {
			fmt.Fprintf(w, "    hint:  %s\n", f.Hint)
		}
	}
	if n := r.Accounts.NoECRRepository; n != nil && n.Count > 0 {
		fmt.Fprintf(w, "\nno ECR repository in Falcon's cloud asset inventory (%d; nothing registered for them until one is listed)\n  %s",
			n.Count, strings.Join(n.Sample, ", "))
		if n.Count > len(n.Sample) {
			fmt.Fprintf(w, ", … (%d more)", n.Count-len(n.Sample))
		}
		fmt.Fprintln(w)
	}
	if len(r.Accounts.Skipped) > 0 {
		fmt.Fprintf(w, "\nskipped accounts (%d)\n", len(r.Accounts.Skipped))
	}
	for _, s := range r.Accounts.Skipped {
		fmt.Fprintf(w, "  %s  [%s] %s\n", s.AccountID, s.Action, s.Reason)
	}
}

// writeSummary prints the coverage line and, when it is not clean, why.
func (c *Coverage) writeSummary(w io.Writer) {
	if c == nil {
		return
	}
	verdict := "clean"
	if !c.Clean {
		verdict = "NOT CLEAN"
	}
	fmt.Fprintf(w, "  coverage:   %d of %d desired registries present (%.1f%%): %s\n", c.Present, c.Desired, c.Percent, verdict)
	m := c.Missing
	var causes []string
	for _, x := range []struct {
		n    int
		what string
	}{{m.AccountSkipped, "account skipped"}, {m.Pending, "being set up"}, {m.Failed, "failed"}, {m.Waiting, "waiting for their role"},
		{m.NotAttempted, "not attempted"}, {m.Unconfirmed, "unconfirmed"},
		{m.Unusable, "unusable"}, {m.Paused, "paused"}, {m.Planned, "planned by this dry run"}} {
		if x.n > 0 {
			causes = append(causes, fmt.Sprintf("%d %s", x.n, x.what))
		}
	}
	if len(causes) > 0 {
		fmt.Fprintf(w, "  missing:    %s\n", strings.Join(causes, ", "))
	}
	for _, a := range c.Attention {
		fmt.Fprintf(w, "  attention:  %s\n", a)
	}
}
