package onboard

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteSummary prints the report for a person: counts first, then the
// first ListBound entries of every list (Bounded), each list with how many
// more the whole report has (the CLI's --json, the Lambda function's log).
func (r Report) WriteSummary(w io.Writer) {
	g := r.Registries
	b := r.Bounded(ListBound)
	bg := b.Registries
	more := func(path string) {
		if n := b.Truncated[path]; n > 0 {
			fmt.Fprintf(w, "  … (%d more in the whole report)\n", n)
		}
	}
	would, title := "", "run"
	if r.DryRun {
		would, title = "would be ", "dry run (nothing written)"
	}
	fmt.Fprintf(w, "ecr-onboard %s %s (%s): %d ms, %d API calls (%d answered 429)\n", title, r.RunID, r.Trigger, r.DurationMS, r.APICalls, r.RateLimited)
	if r.Narrowed {
		fmt.Fprintf(w, "  narrowed:   to %s", b.Narrowing)
		if n := b.Truncated["narrowing.account_ids"] + b.Truncated["narrowing.regions"]; n > 0 {
			fmt.Fprintf(w, " (and %d more)", n)
		}
		fmt.Fprintln(w, "; its coverage is of that part of the scope only")
	}
	skipped := r.count("accounts.skipped", len(r.Accounts.Skipped))
	fmt.Fprintf(w, "  accounts:   %d discovered, %d eligible, %d skipped", r.Accounts.Discovered, r.Accounts.Eligible, skipped)
	if n := r.Accounts.NoECRRepository; n != nil {
		fmt.Fprintf(w, ", %d without an ECR repository in the inventory", n.Count)
	}
	fmt.Fprintln(w)
	created, updated, deleted := r.count("registries.created", len(g.Created)), r.count("registries.updated", len(g.Updated)), r.count("registries.deleted", len(g.Deleted))
	fmt.Fprintf(w, "  registries: %d desired, %d listed in Falcon, %d unchanged, %d %screated, %d %supdated, %d %sdeleted, %d failed\n",
		g.Desired, g.Existing, g.Unchanged, created, would, updated, would, deleted, would, r.Failures())
	if n := g.NotAttempted + g.DeleteNotAttempted; n > 0 {
		fmt.Fprintf(w, "  incomplete: %d planned writes not attempted; the next run continues\n", n)
	}
	b.Coverage.writeSummary(w, b.Truncated["coverage.attention"])
	for _, s := range []struct {
		verb, path string
		refs       []RegistryRef
	}{{"created", "registries.created", bg.Created}, {"updated", "registries.updated", bg.Updated}, {"deleted", "registries.deleted", bg.Deleted}} {
		if n := b.count(s.path, len(s.refs)); n > 0 {
			fmt.Fprintf(w, "\n%s%s (%d)\n", would, s.verb, n)
		}
		for _, x := range s.refs {
			fmt.Fprintf(w, "  %s  %s\n", x.URL, x.RegistryID)
			if x.Reason != "" {
				fmt.Fprintf(w, "    why: %s\n", x.Reason)
			}
		}
		more(s.path)
	}
	if n := bg.NotOwned; n.Count > 0 {
		fmt.Fprintf(w, "\nregistered by someone else, never written here (%d; counted as unchanged)\n", n.Count)
		for _, l := range []struct {
			path  string
			notes []Failure
		}{{"registries.not_owned.unhealthy", n.Unhealthy}, {"registries.not_owned.other_prefix", n.OtherPrefix}} {
			for _, f := range l.notes {
				fmt.Fprintf(w, "  %s\n    state: %s\n    hint:  %s\n", f.URL, f.Error, f.Hint)
			}
			more(l.path)
		}
	}
	for _, s := range []struct {
		title, path string
		notes       []Failure
	}{
		{"paused in Falcon, left alone", "registries.paused", bg.Paused},
		{"registrations that cover nothing (http://)", "registries.unusable", bg.Unusable},
	} {
		if n := b.count(s.path, len(s.notes)); n > 0 {
			fmt.Fprintf(w, "\n%s (%d)\n", s.title, n)
		}
		for _, f := range s.notes {
			fmt.Fprintf(w, "  %s\n    state: %s\n    hint:  %s\n", f.URL, f.Error, f.Hint)
		}
		more(s.path)
	}
	if u := bg.UnknownState; u.Count > 0 {
		states := make([]string, 0, len(u.States))
		for st, n := range u.States {
			states = append(states, fmt.Sprintf("%q x %d", st, n))
		}
		slices.Sort(states)
		if n := b.Truncated["registries.unknown_state.states"]; n > 0 {
			states = append(states, fmt.Sprintf("%d more states", n))
		}
		fmt.Fprintf(w, "\nin a state this version does not know (%d: %s)\n", u.Count, strings.Join(states, ", "))
		for _, x := range u.Sample {
			fmt.Fprintf(w, "  %s  %s\n", x.URL, x.Reason)
		}
		if n := u.Count - len(u.Sample); n > 0 {
			fmt.Fprintf(w, "  … (%d more)\n", n)
		}
		fmt.Fprintf(w, "  hint:  %s\n", u.Hint)
	}
	if n := b.count("registries.kept", len(bg.Kept)); n > 0 {
		fmt.Fprintf(w, "\nowned, outside the scope, left in Falcon (%d)\n", n)
		for _, x := range bg.Kept {
			fmt.Fprintf(w, "  %s  %s\n", x.URL, x.RegistryID)
		}
		more("registries.kept")
	}
	if n := b.count("registries.pending", len(bg.Pending)); n > 0 {
		fmt.Fprintf(w, "\nwaiting for the role's trust to be prepared (%d; not failures yet)\n", n)
		for _, f := range bg.Pending {
			fmt.Fprintf(w, "  %s\n    error: %s\n    hint:  %s\n", f.URL, f.Error, f.Hint)
		}
		more("registries.pending")
	}
	if n := b.count("registries.waiting", len(bg.Waiting)); n > 0 {
		fmt.Fprintf(w, "\nnot sent: waiting for a role Falcon rejected for another registry (%d)\n", n)
		for _, x := range bg.Waiting {
			fmt.Fprintf(w, "  %s\n    why: %s\n", x.URL, x.Reason)
		}
		more("registries.waiting")
	}
	if n := r.Failures(); n > 0 {
		fmt.Fprintf(w, "\nfailed (%d)\n", n)
	}
	for _, l := range []struct {
		path     string
		failures []Failure
	}{{"registries.failed", bg.Failed}, {"registries.delete_failed", bg.DeleteFailed}} {
		for _, f := range l.failures {
			fmt.Fprintf(w, "  %s\n    error: %s\n", f.URL, f.Error)
			if f.Hint != "" {
				fmt.Fprintf(w, "    hint:  %s\n", f.Hint)
			}
		}
		more(l.path)
	}
	if n := b.Accounts.NoECRRepository; n != nil && n.Count > 0 {
		fmt.Fprintf(w, "\nno ECR repository in Falcon's cloud asset inventory (%d; nothing registered for them until one is listed)\n  %s",
			n.Count, strings.Join(n.Sample, ", "))
		if n.Count > len(n.Sample) {
			fmt.Fprintf(w, ", … (%d more)", n.Count-len(n.Sample))
		}
		fmt.Fprintln(w)
	}
	if skipped > 0 {
		fmt.Fprintf(w, "\nskipped accounts (%d)\n", skipped)
	}
	for _, s := range b.Accounts.Skipped {
		fmt.Fprintf(w, "  %s  [%s] %s\n", s.AccountID, s.Action, s.Reason)
	}
	more("accounts.skipped")
}

// writeSummary prints the coverage line and, when it is not clean, why
// (more: attention lines left out).
func (c *Coverage) writeSummary(w io.Writer, more int) {
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
	if more > 0 {
		fmt.Fprintf(w, "  attention:  … (%d more in the whole report)\n", more)
	}
}
