package onboard

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eligibleRegions is a plan's eligible accounts and their regions.
func eligibleRegions(p Plan) map[string][]string {
	m := map[string][]string{}
	for _, a := range p.Eligible {
		m[a.ID] = a.Regions
	}
	return m
}

func TestECRInventoryRegionsAreActiveAndInventoryAndScope(t *testing.T) {
	var (
		inScope      = acct("111111111111", "us-east-1", "us-west-2", "eu-west-1")
		noRepository = acct("222222222222", "us-east-1", "us-west-2")
		noActive     = acct("333333333333")
		refused      = acct("444444444444", "us-east-1")
		excluded     = acct("555555555555", "us-east-1")
		onlyOutside  = acct("666666666666", "eu-west-1") // its one region is outside REGIONS
	)
	refused.ExternalID = ""
	repos := RepositoryRegions{
		inScope.ID:     {"us-east-1", "eu-west-1", "ap-south-1", "us-east-1"}, // eu-west-1: not in REGIONS; ap-south-1: not active
		noActive.ID:    {"us-west-2"},
		excluded.ID:    {"us-east-1"},
		onlyOutside.ID: {"eu-west-1"},
		"999999999999": {"us-east-1"}, // an account CSPM does not list
	}
	o := Observed{Accounts: []Account{inScope, noRepository, noActive, refused, excluded, onlyOutside}, Repositories: repos}
	scope := NewScope(nil, []string{excluded.ID}, []string{"us-east-1", "us-west-2"})

	p := NewPlan(o, Policy{Scope: scope, Owner: "p", RegionSource: RegionsECRInventory})

	assert.Equal(t, map[string][]string{inScope.ID: {"us-east-1"}, noActive.ID: {"us-west-2"}}, eligibleRegions(p))
	assert.Equal(t, []string{noRepository.ID}, p.NoRepository, "regions in scope, no repository: counted, neither eligible nor skipped")
	assert.Equal(t, []Skip{{AccountID: refused.ID, Reason: "CSPM has no external ID for this account", Action: SkipFix}}, p.Skipped,
		"a refusal is reported as such, repository or not")
	assert.Equal(t, 6, p.Discovered, "the inventory's account CSPM does not list is not discovered")
	assert.Equal(t, 2, p.Desired)
	assert.Equal(t, map[ActionKind][]string{Create: {
		RegistryURL(inScope.ID, "us-east-1"), RegistryURL(noActive.ID, "us-west-2"),
	}}, kinds(p))

	// The same observation with the default source: every active region in scope.
	active := NewPlan(o, Policy{Scope: scope, Owner: "p"})
	assert.Equal(t, map[string][]string{
		inScope.ID: {"us-east-1", "us-west-2"}, noRepository.ID: {"us-east-1", "us-west-2"}, noActive.ID: {"us-east-1", "us-west-2"},
	}, eligibleRegions(active))
	assert.Nil(t, active.NoRepository)
}

func TestECRInventoryEmptyOrAbsentRegistersNothing(t *testing.T) {
	a, b := acct("111111111111", "us-east-1"), acct("222222222222", "eu-west-1")
	for name, repos := range map[string]RepositoryRegions{"nil": nil, "empty": {}} {
		p := NewPlan(Observed{Accounts: []Account{a, b}, Repositories: repos}, Policy{Owner: "p", RegionSource: RegionsECRInventory})
		assert.Empty(t, p.Actions, name)
		assert.Empty(t, p.Eligible, name)
		assert.Equal(t, []string{a.ID, b.ID}, p.NoRepository, name)
	}
}

// The inventory never prunes: a registration in an active region whose
// repositories are gone from the inventory stays (and is not desired); one
// in a region CSPM no longer lists as active goes, as in active mode.
func TestECRInventoryNeverPrunes(t *testing.T) {
	const owner = Owner("p")
	a := acct("111111111111", "us-east-1", "us-west-2")
	gone := acct("222222222222", "us-east-1")
	o := Observed{
		Accounts: []Account{a},
		Registries: []Registry{
			ownedBy(owner, a, "us-east-1"),
			ownedBy(owner, a, "us-west-2"),    // its repositories vanished from the inventory
			ownedBy(owner, a, "eu-west-1"),    // region no longer active
			ownedBy(owner, gone, "us-east-1"), // account left CSPM
		},
		Repositories: RepositoryRegions{a.ID: {"us-east-1"}},
		Absent:       map[string]bool{gone.ID: true}, // CSPM confirmed it
	}

	p := NewPlan(o, Policy{Owner: owner, Mode: Prune, RegionSource: RegionsECRInventory})

	assert.Equal(t, map[ActionKind][]string{Delete: {RegistryURL(a.ID, "eu-west-1"), RegistryURL(gone.ID, "us-east-1")}}, kinds(p))
	assert.Equal(t, 1, p.Desired)
	assert.Equal(t, 1, p.Unchanged)

	// An account whose every repository vanished: no_ecr_repository, and
	// still nothing of it is pruned.
	o.Repositories = RepositoryRegions{}
	p = NewPlan(o, Policy{Owner: owner, Mode: Prune, RegionSource: RegionsECRInventory})
	assert.Equal(t, []string{a.ID}, p.NoRepository)
	assert.Equal(t, map[ActionKind][]string{Delete: {RegistryURL(a.ID, "eu-west-1"), RegistryURL(gone.ID, "us-east-1")}}, kinds(p))
}

func TestRegionSourceValues(t *testing.T) {
	for in, want := range map[string]RegionSource{"": RegionsActive, "active": RegionsActive, "ecr-inventory": RegionsECRInventory} {
		got, err := ParseRegionSource(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"Active", "inventory", "ecr_inventory", " active"} {
		_, err := ParseRegionSource(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "ecr-inventory", RegionsECRInventory.String())

	b, err := json.Marshal(Report{RegionSource: RegionsECRInventory})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"region_source":"ecr-inventory"`)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, RegionsECRInventory, back.RegionSource)
}

// inventoryFalcon is a fakeFalcon that is also an Inventory.
type inventoryFalcon struct {
	*fakeFalcon
	repos RepositoryRegions
	err   error
	reads atomic.Int64
}

func (f *inventoryFalcon) ECRRegions(context.Context) (RepositoryRegions, error) {
	f.reads.Add(1)
	return f.repos, f.err
}

func TestRunnerReadsTheInventoryOnlyForECRInventory(t *testing.T) {
	accounts := manyAccounts(14, "us-east-1", "eu-west-1")
	repos := RepositoryRegions{accounts[0].ID: {"eu-west-1"}, accounts[1].ID: {"us-east-1", "eu-west-1"}}
	tenant := func() *inventoryFalcon {
		return &inventoryFalcon{fakeFalcon: &fakeFalcon{accounts: accounts}, repos: repos}
	}

	t.Run("active", func(t *testing.T) {
		f := tenant()
		report, err := (&Runner{Falcon: f, Owner: "p"}).Run(context.Background(), Request{})
		require.NoError(t, err)
		assert.Zero(t, f.reads.Load(), "the inventory is never read in active mode")
		assert.Len(t, report.Registries.Created, 28)
		assert.Nil(t, report.Accounts.NoECRRepository)
		assert.Equal(t, RegionsActive, report.RegionSource)
	})
	t.Run("ecr-inventory", func(t *testing.T) {
		f := tenant()
		report, err := (&Runner{Falcon: f, Owner: "p", RegionSource: RegionsECRInventory}).Run(context.Background(), Request{})
		require.NoError(t, err)
		assert.Equal(t, int64(1), f.reads.Load())
		assert.Len(t, report.Registries.Created, 3)
		assert.Equal(t, 2, report.Accounts.Eligible)
		assert.Empty(t, report.Accounts.Skipped)
		var wantSample []string
		for _, a := range accounts[2:12] {
			wantSample = append(wantSample, a.ID)
		}
		assert.Equal(t, &AccountSample{Count: 12, Sample: wantSample}, report.Accounts.NoECRRepository, "a count and the first ten")
		assert.Equal(t, RegionsECRInventory, report.RegionSource)
		assert.NoError(t, report.Balanced())
	})
	t.Run("disconnect never reads it", func(t *testing.T) {
		f := tenant()
		_, err := (&Runner{Falcon: f, Owner: "p", RegionSource: RegionsECRInventory}).Run(context.Background(), Request{Disconnect: true})
		require.NoError(t, err)
		assert.Zero(t, f.reads.Load())
	})
	t.Run("an unreadable inventory writes nothing", func(t *testing.T) {
		f := tenant()
		f.err = fmt.Errorf("reading: %w", ErrAccessDenied)
		report, err := (&Runner{Falcon: f, Owner: "p", RegionSource: RegionsECRInventory}).Run(context.Background(), Request{})
		require.ErrorIs(t, err, ErrAccessDenied)
		assert.Contains(t, err.Error(), "cloud asset inventory (REGION_SOURCE=ecr-inventory)")
		assert.False(t, report.Complete)
		assert.Equal(t, RegionsECRInventory, report.RegionSource)
		assert.Empty(t, f.registries, "nothing created")
	})
	t.Run("a Falcon without an inventory cannot run ecr-inventory", func(t *testing.T) {
		f := &fakeFalcon{accounts: accounts}
		_, err := (&Runner{Falcon: f, Owner: "p", RegionSource: RegionsECRInventory}).Run(context.Background(), Request{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot read the cloud asset inventory")
		assert.Empty(t, f.registries)
	})
}

func TestNoRepositoryReportArithmetic(t *testing.T) {
	r := newReport(Plan{Discovered: 3, Eligible: []Account{acct("111111111111")}, RegionSource: RegionsECRInventory,
		NoRepository: []string{"222222222222", "333333333333"}})
	require.NoError(t, r.Balanced())
	r.Accounts.NoECRRepository.Count = 3
	assert.EqualError(t, r.Balanced(), "no ECR repository 3 + eligible 1 + skipped 0 > discovered 3", "more accounts accounted for than discovered")
}

func TestSummaryCountsAccountsWithoutRepository(t *testing.T) {
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("%012d", 100000000000+i))
	}
	r := newReport(Plan{Discovered: 12, RegionSource: RegionsECRInventory, NoRepository: ids})
	var b strings.Builder
	r.WriteSummary(&b)
	assert.Contains(t, b.String(), "12 discovered, 0 eligible, 0 skipped, 12 without an ECR repository in the inventory\n")
	assert.Contains(t, b.String(), "(12; nothing registered for them until one is listed)\n  100000000000, 100000000001, ")
	assert.Contains(t, b.String(), "100000000009, … (2 more)\n")

	b.Reset()
	newReport(Plan{Discovered: 12}).WriteSummary(&b)
	assert.NotContains(t, b.String(), "ECR repository", "active mode says nothing of repositories")
}
