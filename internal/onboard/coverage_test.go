package onboard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runOn runs a real (or dry) reconcile on f and returns its report.
func runOn(t *testing.T, rn *Runner, req Request) Report {
	t.Helper()
	if rn.Owner == "" {
		rn.Owner = "p"
	}
	r, err := rn.Run(context.Background(), req)
	require.NoError(t, err)
	require.NoError(t, r.Balanced())
	require.NotNil(t, r.Coverage)
	return r
}

// An organization whose members share one external ID is covered in full
// and clean; the second run too.
func TestCoverageOfAnOnboardedOrganizationIsClean(t *testing.T) {
	members := manyAccounts(24, "us-east-1", "eu-west-1")
	for i := range members {
		members[i].ExternalID, members[i].OrganizationID = "org-external-id", "o-abc"
	}
	f := &fakeFalcon{accounts: append(members, acct("200000000001", "us-east-1"))}
	rn := &Runner{Falcon: f}

	dry := runOn(t, rn, Request{DryRun: true})
	assert.Equal(t, Coverage{Desired: 49, Present: 0, Percent: 0, Missing: Missing{Planned: 49},
		Attention: []string{"49 registration(s) missing or drifted that this dry run would create or fix (registries.created, registries.updated)"}}, *dry.Coverage,
		"a dry run plans; what it would create is still missing")
	assert.Equal(t, 4, dry.ExitCode())

	for _, name := range []string{"first", "second"} {
		r := runOn(t, rn, Request{})
		assert.Equal(t, Coverage{Desired: 49, Present: 49, Percent: 100, Clean: true, Attention: []string{}}, *r.Coverage, name)
		assert.Empty(t, r.Accounts.Skipped, name)
		assert.Equal(t, 0, r.ExitCode(), name)
	}
	dry = runOn(t, rn, Request{DryRun: true})
	assert.True(t, dry.Coverage.Clean, "a dry run with nothing to do is clean")
	assert.Equal(t, 0, dry.ExitCode())
}

// A registration a person paused is not assessed: missing, as such, and a
// person is told (the report lists it; it is never written here).
func TestCoverageOfPausedRegistrations(t *testing.T) {
	a := acct("100000000001", "us-east-1", "eu-west-1")
	paused := ownedBy("p", a, "eu-west-1")
	paused.State = "paused"
	f := &fakeFalcon{accounts: []Account{a}, registries: []Registry{ownedBy("p", a, "us-east-1"), paused}}
	r := runOn(t, &Runner{Falcon: f}, Request{})
	assert.Equal(t, Coverage{Desired: 2, Present: 1, Percent: 50, Missing: Missing{Paused: 1},
		Attention: []string{"1 registration(s) paused in Falcon: not assessed until resumed (registries.paused)"}}, *r.Coverage)
	assert.Equal(t, 4, r.ExitCode())
	assert.Zero(t, f.calls.Load()-2, "nothing written")
}

// Every account skipped: zero coverage, counted by the regions the skipped
// accounts would have, and never clean (exit code 4).
func TestCoverageWhenEveryAccountIsSkipped(t *testing.T) {
	accounts := manyAccounts(3, "us-east-1", "eu-west-1")
	for i := range accounts {
		accounts[i].ExternalID = ""
	}
	noRegions := acct("200000000001")
	noRegions.ExternalID = ""
	f := &fakeFalcon{accounts: append(accounts, noRegions)}

	r := runOn(t, &Runner{Falcon: f}, Request{})

	c := r.Coverage
	assert.Equal(t, 6, c.Desired, "2 regions of each of 3 accounts; the one without regions adds none")
	assert.Zero(t, c.Present)
	assert.Zero(t, c.Percent)
	assert.Equal(t, Missing{AccountSkipped: 6}, c.Missing)
	assert.False(t, c.Clean)
	require.Len(t, c.Attention, 1)
	assert.Contains(t, c.Attention[0], "4 account(s) skipped for a cause a person must fix")
	assert.Equal(t, 4, r.ExitCode())
	for _, s := range r.Accounts.Skipped {
		assert.Equal(t, SkipFix, s.Action)
	}
	assert.Zero(t, f.creates.Load())
}

// CSPM answering with no account at all is zero coverage, not a quiet
// success: a lost API scope looks exactly like this.
func TestCoverageWhenCSPMListsNoAccount(t *testing.T) {
	r := runOn(t, &Runner{Falcon: &fakeFalcon{}}, Request{})
	assert.False(t, r.Coverage.Clean)
	assert.Zero(t, r.Coverage.Percent)
	require.Len(t, r.Coverage.Attention, 1)
	assert.Contains(t, r.Coverage.Attention[0], "CSPM lists no AWS account")
	assert.Equal(t, 4, r.ExitCode())
}

// A registration that exists for a skipped account's registry still covers
// it (someone registered it before, or by hand); the rest are missing.
func TestCoverageCountsRegistrationsOfSkippedAccounts(t *testing.T) {
	a := acct("100000000001", "us-east-1", "eu-west-1", "ap-south-1")
	a.ExternalID = ""
	troubled := existing(a, "ap-south-1", "team")
	troubled.State = "error"
	f := &fakeFalcon{accounts: []Account{a}, registries: []Registry{existing(a, "us-east-1", "team"), troubled}}

	r := runOn(t, &Runner{Falcon: f}, Request{})

	assert.Equal(t, 3, r.Coverage.Desired)
	assert.Equal(t, 1, r.Coverage.Present, "the registration in state error does not cover its registry")
	assert.Equal(t, Missing{AccountSkipped: 2}, r.Coverage.Missing)
	assert.InDelta(t, 33.3, r.Coverage.Percent, 0.001)
}

func TestCoverageMissingByCause(t *testing.T) {
	ok, failing := acct("100000000001", "us-east-1"), acct("100000000002", "us-east-1", "eu-west-1")
	someoneElses := acct("100000000003", "us-east-1")
	broken := existing(someoneElses, "us-east-1", "team")
	broken.Expired = true
	f := &fakeFalcon{accounts: []Account{ok, failing, someoneElses}, registries: []Registry{broken}}
	f.createErr = func(r Registry) error {
		if r.AccountID == failing.ID {
			return fmt.Errorf("%w: unable to assume role", ErrCredentialRejected)
		}
		return nil
	}

	r := runOn(t, &Runner{Falcon: f}, Request{})

	assert.Equal(t, Coverage{Desired: 4, Present: 1, Percent: 25, Missing: Missing{Failed: 1, Waiting: 1, Unusable: 1}, Attention: []string{
		"1 registration(s) failed (registries.failed, each with a hint)",
		"1 registration(s) not sent: Falcon rejected their role and external ID for another registry (registries.waiting; the hint is that registry's)",
		"1 registration(s) made outside ecr-onboard are unusable (registries.not_owned.unhealthy)",
	}}, *r.Coverage)
	assert.Equal(t, 3, r.ExitCode(), "a failed write is exit code 3, as before")
}

// Writes left for the next run (the deadline came) are missing as such.
func TestCoverageOfARunCutShort(t *testing.T) {
	f := &fakeFalcon{accounts: manyAccounts(4, "us-east-1")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	rn := &Runner{Falcon: f, Owner: "p", WriteMargin: 2 * time.Hour} // the write deadline has passed: no write starts
	r, err := rn.Run(ctx, Request{})
	require.NoError(t, err)
	assert.Equal(t, Missing{NotAttempted: 4}, r.Coverage.Missing)
	assert.False(t, r.Coverage.Clean)
	assert.Equal(t, 3, r.ExitCode())
}

// Skips are classified: "none" (Container Security cannot assess the
// partition) is not desired and raises nothing; "wait" is missing as
// pending; an unclassified refusal needs a person.
func TestCoverageBySkipAction(t *testing.T) {
	r := Report{Accounts: AccountsReport{Skipped: []Skip{
		{AccountID: "100000000001", Action: SkipNone}, {AccountID: "100000000002", Action: SkipWait},
	}}, Complete: true}
	p := Plan{Discovered: 3, Desired: 1, Unchanged: 1, Present: 1, SkippedRegistries: SkippedRegistries{Wait: RegistryCount{Desired: 2}}}
	r.Registries.Unchanged = 1
	r.judgeCoverage(p, []outcome{})
	assert.Equal(t, Coverage{Desired: 3, Present: 1, Percent: 33.3, Missing: Missing{Pending: 2},
		Attention: []string{`1 account(s) still being set up; a later run covers them (accounts.skipped, action "wait")`}}, *r.Coverage)

	assert.Equal(t, Skip{AccountID: "1", Reason: "x", Action: SkipFix}, (&Refusal{Reason: "x"}).skip("1"),
		"a refusal nobody classified needs a person")
	assert.Equal(t, Skip{AccountID: "1", Reason: "x", Action: SkipNone}, (&Refusal{Reason: "x", Action: SkipNone}).skip("1"))

	only := Report{Accounts: AccountsReport{Skipped: []Skip{{AccountID: "100000000001", Action: SkipNone}}}, Complete: true}
	only.judgeCoverage(Plan{Discovered: 1}, []outcome{})
	assert.False(t, only.Coverage.Clean, "a tenant with nothing to assess covers nothing")
	assert.Equal(t, []string{"none of the 1 account(s) CSPM lists has a registry in scope to assess: every one is out of scope (ACCOUNT_IDS, EXCLUDE_ACCOUNT_IDS, REGIONS), skipped, or without a region in scope"},
		only.Coverage.Attention)
	assert.Equal(t, 0.0, only.Coverage.Percent)
}

// A scope that names an account CSPM does not list plans nothing for it;
// that is not clean (a typo in ACCOUNT_IDS or --account would otherwise pass).
func TestCoverageNamesAccountsCSPMDoesNotList(t *testing.T) {
	a := acct("100000000001", "us-east-1")
	f := &fakeFalcon{accounts: []Account{a}}
	rn := &Runner{Falcon: f, Scope: NewScope([]string{a.ID, "100000000009"}, nil, nil)}
	r := runOn(t, rn, Request{})
	assert.Equal(t, []string{"ACCOUNT_IDS or the request names 1 account(s) CSPM does not list: 100000000009"}, r.Coverage.Attention)
	assert.Equal(t, 4, r.ExitCode())

	r = runOn(t, rn, Request{Narrowing: Narrowing{AccountIDs: []string{a.ID}}})
	assert.True(t, r.Coverage.Clean, "the request narrowed the unlisted account away")
}

// Percent rounds down: a registry short of full is never shown as 100%.
func TestCoveragePercentRoundsDown(t *testing.T) {
	r := Report{Complete: true, Registries: RegistriesReport{Unchanged: 1999}}
	r.judgeCoverage(Plan{Discovered: 1, Desired: 1999, Unchanged: 1999, Present: 1999, SkippedRegistries: SkippedRegistries{Fix: RegistryCount{Desired: 1}}}, []outcome{})
	assert.Equal(t, 99.9, r.Coverage.Percent)
}

// With REGION_SOURCE=ecr-inventory a skipped account's desired registries
// are those of its regions with a repository, as an eligible account's.
func TestCoverageOfSkippedAccountsFollowsTheRegionSource(t *testing.T) {
	a := acct("100000000001", "us-east-1", "eu-west-1")
	a.ExternalID = ""
	p := NewPlan(Observed{Accounts: []Account{a}, Repositories: RepositoryRegions{a.ID: {"eu-west-1"}}},
		Policy{Owner: "p", RegionSource: RegionsECRInventory})
	assert.Equal(t, SkippedRegistries{Fix: RegistryCount{Desired: 1}}, p.SkippedRegistries)
}

// A stack Delete only disconnects: coverage is not judged.
func TestDisconnectDoesNotJudgeCoverage(t *testing.T) {
	r, err := (&Runner{Falcon: &fakeFalcon{}, Owner: "p"}).Run(context.Background(), Request{Disconnect: true})
	require.NoError(t, err)
	assert.Nil(t, r.Coverage)
	assert.Equal(t, 0, r.ExitCode())
}

// Summaries: every run that changed something or failed as a whole; a
// verdict that is not clean (failed registrations included) once a day per
// process; the first clean run after it.
func TestSummaryOfCoverageThatIsNotClean(t *testing.T) {
	var s summaries
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	unclean := Report{Complete: true, Coverage: &Coverage{Attention: []string{"1 account(s) skipped …"}},
		Accounts: AccountsReport{Skipped: []Skip{{AccountID: "100000000001", Reason: "CSPM has no external ID for this account"}}}}
	clean := Report{Complete: true, Coverage: &Coverage{Clean: true}}
	other := unclean
	other.Accounts.Skipped = []Skip{{AccountID: "100000000002", Reason: "CSPM has no external ID for this account"}}

	assert.False(t, s.due(clean, nil, now), "clean and nothing changed")
	assert.True(t, s.due(unclean, nil, now), "a new verdict")
	assert.False(t, s.due(unclean, nil, now.Add(10*time.Minute)), "the same verdict, told already")
	assert.True(t, s.due(other, nil, now.Add(20*time.Minute)), "another account is skipped now")
	assert.True(t, s.due(unclean, nil, now.Add(SummaryRepeat)), "told again a day later")
	assert.True(t, s.due(clean, nil, now.Add(SummaryRepeat+time.Minute)), "clean again: say so")
	assert.False(t, s.due(clean, nil, now.Add(SummaryRepeat+2*time.Minute)))
	assert.True(t, s.due(clean, errors.New("listing failed"), now), "a failed run is always told")
	changed := clean
	changed.Registries.Created = []RegistryRef{{URL: "https://x"}}
	assert.True(t, s.due(changed, nil, now), "a change is always told")

	// A failure that repeats every run (a role nobody fixes, a registration
	// Falcon keeps in error) is told once a day; another failure at once.
	failing := Report{Complete: true, Coverage: &Coverage{Attention: []string{"1 registration(s) failed …"}},
		Registries: RegistriesReport{Failed: []Failure{{URL: "https://a", Error: "sent again at 12:00"}}}}
	assert.True(t, s.due(failing, nil, now), "a new failure")
	failing.Registries.Failed[0].Error = "sent again at 12:10"
	assert.False(t, s.due(failing, nil, now.Add(10*time.Minute)), "the same registration failing again")
	failing.Registries.Failed = append(failing.Registries.Failed, Failure{URL: "https://b"})
	assert.True(t, s.due(failing, nil, now.Add(20*time.Minute)), "another registration fails")
}

// Registrations this tool made under another ALIAS_PREFIX still cover their
// registries, but nothing repairs them any more: a person must look.
func TestCoverageRaisesRegistrationsOfAnotherPrefix(t *testing.T) {
	a := acct("100000000001", "us-east-1")
	f := &fakeFalcon{accounts: []Account{a}, registries: []Registry{ownedBy("old-stack", a, "us-east-1")}}
	r := runOn(t, &Runner{Falcon: f, Owner: "new-stack"}, Request{})
	assert.Equal(t, 1, r.Coverage.Present)
	assert.Equal(t, []string{"1 registration(s) carry this tool's alias under another ALIAS_PREFIX and are no longer maintained (registries.not_owned.other_prefix)"},
		r.Coverage.Attention)
	assert.Equal(t, 4, r.ExitCode())
}

// A whole tenant in one state this version does not know (the live
// service's healthy state may be one) is counted by state and named by its
// first few: the report stays small (a Lambda answer is at most 6 MB), and
// the registrations cover their registries.
func TestUnknownStatesAreCountedNotListed(t *testing.T) {
	accounts := manyAccounts(40, "us-east-1", "eu-west-1")
	var regs []Registry
	for _, a := range accounts {
		for _, region := range a.Regions {
			r := ownedBy("p", a, region)
			r.State = "active"
			regs = append(regs, r)
		}
	}
	r := runOn(t, &Runner{Falcon: &fakeFalcon{accounts: accounts, registries: regs}}, Request{})
	u := r.Registries.UnknownState
	assert.Equal(t, 80, u.Count)
	assert.Equal(t, map[string]int{"active": 80}, u.States)
	assert.Len(t, u.Sample, NoRepositorySample)
	assert.Equal(t, 80, r.Coverage.Present)
	assert.True(t, r.Coverage.Clean)
	var b strings.Builder
	r.WriteSummary(&b)
	assert.Contains(t, b.String(), `in a state this version does not know (80: "active" x 80)`)
	assert.Contains(t, b.String(), "… (70 more)")
}

// A scope or an inventory that selects nothing covers nothing: never clean,
// and the attention says which.
func TestNothingSelectedIsNotClean(t *testing.T) {
	accounts := manyAccounts(50, "us-east-1", "eu-west-1")
	for name, tc := range map[string]struct {
		scope     Scope
		source    RegionSource
		req       Request
		attention string
	}{
		"ACCOUNT_IDS all excluded": {
			scope:     NewScope([]string{accounts[0].ID}, []string{accounts[0].ID}, nil),
			attention: "nothing is in scope: EXCLUDE_ACCOUNT_IDS excludes every account ACCOUNT_IDS or the request names (" + accounts[0].ID + ")",
		},
		"a request with nothing in common with REGIONS": {
			scope:     NewScope(nil, nil, []string{"us-east-1"}),
			req:       Request{Narrowing: Narrowing{Regions: []string{"ap-south-1"}}},
			attention: "nothing is in scope: the request and the configuration (ACCOUNT_IDS, REGIONS) have no account or region in common",
		},
		"an inventory without a repository": {
			source:    RegionsECRInventory,
			attention: "Falcon's cloud asset inventory lists no ECR repository for any of the 50 account(s) in scope (accounts.no_ecr_repository)",
		},
		"every account excluded": {
			scope:     NewScope(nil, ids(accounts), nil),
			attention: "none of the 50 account(s) CSPM lists has a registry in scope to assess",
		},
	} {
		t.Run(name, func(t *testing.T) {
			rn := &Runner{Falcon: &inventoryFalcon{fakeFalcon: &fakeFalcon{accounts: accounts}, repos: RepositoryRegions{}}, Owner: "p",
				Scope: tc.scope, RegionSource: tc.source}
			r := runOn(t, rn, tc.req)
			assert.Zero(t, r.Coverage.Desired)
			assert.False(t, r.Coverage.Clean)
			assert.Zero(t, r.Coverage.Percent)
			require.NotEmpty(t, r.Coverage.Attention)
			assert.Contains(t, r.Coverage.Attention[0], tc.attention)
			assert.Equal(t, 4, r.ExitCode())
		})
	}
}

func ids(accounts []Account) []string {
	var out []string
	for _, a := range accounts {
		out = append(out, a.ID)
	}
	return out
}
