package onboard

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrunesOnlyOwnedRegistriesOfGoneAccountsOrInactiveRegions(t *testing.T) {
	const prefix = "ecr-onboard"
	stay := acct("100000000001", "us-east-1")
	noRegions := acct("100000000003")
	gone := acct("100000000002", "us-east-1")
	missing := Account{ID: "100000000004", RecordMissing: true}
	owned := func(a Account, region string) Registry { return ownedBy(prefix, a, region) }

	keepActive := owned(stay, "us-east-1")
	inactiveRegion := owned(stay, "eu-west-1")
	goneAccount := owned(gone, "us-east-1")
	unowned := existing(gone, "eu-west-1", "team-registry")
	silentCSPM := owned(noRegions, "us-east-1")
	recordMissing := owned(acct(missing.ID, "us-east-1"), "us-east-1")
	all := []Registry{keepActive, inactiveRegion, goneAccount, unowned, silentCSPM, recordMissing}
	prunes := func(accounts []Account, scope Scope) []Action {
		p := NewPlan(Observed{Accounts: accounts, Registries: all, Absent: map[string]bool{gone.ID: true}}, Policy{Scope: scope, Owner: prefix, Mode: Prune})
		var out []Action
		for _, a := range p.Actions {
			if a.Kind == Delete {
				out = append(out, a)
			}
		}
		return out
	}

	deleteGone := Action{Kind: Delete, Registry: goneAccount, Reason: "account no longer in CSPM"}
	assert.Equal(t, []Action{{Kind: Delete, Registry: inactiveRegion, Reason: "region no longer active in CSPM"}, deleteGone},
		prunes([]Account{stay, noRegions, missing}, Scope{}))
	assert.Empty(t, prunes(nil, Scope{}), "CSPM answering no account prunes nothing")
	assert.Equal(t, []Action{deleteGone}, prunes([]Account{stay, noRegions, missing}, NewScope(nil, []string{stay.ID}, nil)), "scope applies")
	assert.Equal(t, []Action{deleteGone}, prunes([]Account{stay, noRegions, missing}, NewScope(nil, nil, []string{"us-east-1"})),
		"a region outside REGIONS is not pruned")
	assert.Empty(t, prunes([]Account{stay, noRegions, missing}, Scope{}.Narrow(Narrowing{Regions: []string{"us-east-1"}}).Narrow(Narrowing{Regions: []string{"eu-west-1"}})),
		"a scope that matches nothing prunes nothing")
}

// An account the listing left out is pruned only once CSPM confirmed it
// gone (Observed.Absent); until then the plan asks (Unconfirmed).
func TestPruneWaitsForAConfirmedAbsence(t *testing.T) {
	stay, gone := acct("100000000001", "us-east-1"), acct("100000000002", "us-east-1", "eu-west-1")
	o := Observed{Accounts: []Account{stay}, Registries: []Registry{ownedBy("p", stay, "us-east-1"),
		ownedBy("p", gone, "us-east-1"), ownedBy("p", gone, "eu-west-1")}}
	policy := Policy{Owner: "p", Mode: Prune}

	p := NewPlan(o, policy)
	assert.Empty(t, p.Actions, "not confirmed: nothing deleted")
	assert.Equal(t, []string{gone.ID}, p.Unconfirmed, "asked once per account")

	o.Absent = map[string]bool{gone.ID: true}
	p = NewPlan(o, policy)
	assert.Equal(t, 2, p.Writes(Delete))
	assert.Empty(t, p.Unconfirmed)
}

// A run asks CSPM for the accounts its listing left out: one it still has
// is planned as listed and keeps its registrations; one it does not have is
// pruned; a Falcon that cannot ask prunes nothing for them.
func TestPruneRunConfirmsAbsencesWithCSPM(t *testing.T) {
	stay, hidden, gone := acct("100000000001", "us-east-1"), acct("100000000002", "us-east-1"), acct("100000000003", "us-east-1")
	f := &fakeFalcon{accounts: []Account{stay}, records: []Account{stay, hidden}, registries: []Registry{
		ownedBy("p", stay, "us-east-1"), ownedBy("p", hidden, "us-east-1"), ownedBy("p", gone, "us-east-1"),
	}}
	report, err := (&Runner{Falcon: f, Owner: "p", Prune: true}).Run(context.Background(), Request{})
	require.NoError(t, err)
	require.Len(t, report.Registries.Deleted, 1)
	assert.Equal(t, gone.ID, report.Registries.Deleted[0].AccountID)
	assert.Equal(t, 2, report.Registries.Unchanged, "the hidden account is planned as CSPM has it")
	assert.Equal(t, 2, report.Accounts.Discovered, "the listed one and the one CSPM still has")

	report, err = (&Runner{Falcon: noAccountReader{f}, Owner: "p", Prune: true}).Run(context.Background(), Request{})
	require.NoError(t, err)
	assert.Empty(t, report.Registries.Deleted, "no confirmation, no prune")
}

// noAccountReader hides a Falcon's AccountReader.
type noAccountReader struct{ Falcon }

func TestPruneRunDeletesAndDryRunListsThem(t *testing.T) {
	stay, gone := acct("100000000001", "us-east-1"), acct("100000000002", "us-east-1")
	f := &fakeFalcon{accounts: []Account{stay}, records: []Account{stay}, registries: []Registry{
		ownedBy("p", stay, "us-east-1"),
		ownedBy("p", gone, "us-east-1"),
		existing(gone, "us-west-2", "manual"),
	}}
	rn := &Runner{Falcon: f, Owner: "p", Prune: true}
	dry, err := rn.Run(context.Background(), Request{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, []RegistryRef{{URL: RegistryURL(gone.ID, "us-east-1"), AccountID: gone.ID, Region: "us-east-1", RegistryID: "id-100000000002-us-east-1", Reason: "account no longer in CSPM"}}, dry.Registries.Deleted)
	assert.Zero(t, f.deletes.Load())

	report, err := rn.Run(context.Background(), Request{})
	require.NoError(t, err)
	assert.Len(t, report.Registries.Deleted, 1)
	assert.EqualValues(t, 1, f.deletes.Load())

	rn.Prune = false
	report, err = rn.Run(context.Background(), Request{})
	require.NoError(t, err)
	assert.Empty(t, report.Registries.Deleted, "no pruning unless asked")
}

type fakeVerifier struct {
	open  map[string]bool
	err   error
	mu    sync.Mutex
	asked []string
}

func (v *fakeVerifier) VerifyTrust(_ context.Context, a Account) *Refusal {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.asked = append(v.asked, a.RoleARN)
	switch {
	case v.err != nil:
		return &Refusal{Reason: "VERIFY_TRUST could not check the role's trust policy: " + v.err.Error()}
	case v.open[a.RoleARN]:
		return &Refusal{Reason: "role can be assumed WITHOUT an external ID"}
	}
	return nil
}

func TestVerifyTrustRefusesOpenRolesBeforeTheirFirstRegistration(t *testing.T) {
	healthy, open, onboarded := acct("100000000001", "us-east-1"), acct("100000000002", "us-east-1"), acct("100000000003", "us-east-1")
	f := &fakeFalcon{accounts: []Account{healthy, open, onboarded},
		registries: []Registry{existing(onboarded, "us-east-1", "x")}}
	v := &fakeVerifier{open: map[string]bool{open.RoleARN: true}}
	rn := &Runner{Falcon: f, Owner: "p", Verifier: v}

	report, err := rn.Run(context.Background(), Request{})

	require.NoError(t, err)
	assert.ElementsMatch(t, []string{healthy.RoleARN, open.RoleARN}, v.asked, "only accounts about to be registered are probed")
	assert.Equal(t, []RegistryRef{{URL: RegistryURL(healthy.ID, "us-east-1"), AccountID: healthy.ID, Region: "us-east-1", RegistryID: "id-1"}}, report.Registries.Created)
	require.Len(t, report.Accounts.Skipped, 1)
	assert.Equal(t, open.ID, report.Accounts.Skipped[0].AccountID)
	assert.Contains(t, report.Accounts.Skipped[0].Reason, "WITHOUT an external ID")
	assert.Equal(t, 2, report.Registries.Desired)

	// A probe that cannot answer refuses too: fail safe.
	v2 := &fakeVerifier{err: errors.New("throttled")}
	f2 := &fakeFalcon{accounts: []Account{healthy}}
	report, err = (&Runner{Falcon: f2, Owner: "p", Verifier: v2}).Run(context.Background(), Request{})
	require.NoError(t, err)
	assert.Empty(t, report.Registries.Created)
	assert.Contains(t, report.Accounts.Skipped[0].Reason, "could not check")
}

type fakeNotifier struct {
	reports  []Report
	ctxAlive []bool
}

func (n *fakeNotifier) Notify(ctx context.Context, r Report, _ error) error {
	n.reports = append(n.reports, r)
	n.ctxAlive = append(n.ctxAlive, ctx.Err() == nil)
	return nil
}

// A run that ends on its deadline still publishes its summary: the publish
// has a context of its own.
func TestSummaryOfARunThatHitItsDeadlineIsPublished(t *testing.T) {
	n := &fakeNotifier{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	f := &fakeFalcon{accounts: []Account{acct("100000000001", "us-east-1")}}
	f.beforeCreate = func(int64) { cancel() } // the run's context ends while it writes
	_, err := (&Runner{Falcon: f, Owner: "p", Notifier: n}).Run(ctx, Request{})
	require.NoError(t, err)
	require.Error(t, ctx.Err(), "the run outlived its context")
	require.Len(t, n.reports, 1)
	assert.True(t, n.ctxAlive[0], "published with a live context")
}

func TestNotifiesOnlyWhenSomethingChangedOrFailed(t *testing.T) {
	n := &fakeNotifier{}
	f := &fakeFalcon{accounts: []Account{acct("100000000001", "us-east-1")}}
	rn := &Runner{Falcon: f, Owner: "p", Notifier: n, HomeAccount: "999999999999", Partition: "aws"}
	_, err := rn.Run(context.Background(), Request{DryRun: true})
	require.NoError(t, err)
	assert.Empty(t, n.reports, "a dry run changes nothing")
	first, err := rn.Run(context.Background(), Request{})
	require.NoError(t, err)
	_, err = rn.Run(context.Background(), Request{})
	require.NoError(t, err)
	require.Len(t, n.reports, 1, "the second run changed nothing")
	assert.Equal(t, first.RunID, n.reports[0].RunID)
	assert.Equal(t, "999999999999", first.HomeAccount)
	assert.Equal(t, "aws", first.Partition)
}
