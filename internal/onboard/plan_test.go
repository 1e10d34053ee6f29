package onboard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// planOf plans a reconcile of accounts against existing registrations.
func planOf(accounts []Account, existing []Registry, scope Scope, owner Owner) Plan {
	return NewPlan(Observed{Accounts: accounts, Registries: existing}, Policy{Scope: scope, Owner: owner})
}

func acct(id string, regions ...string) Account {
	return Account{
		ID: id, Type: "commercial", RoleARN: "arn:aws:iam::" + id + ":role/CSPM",
		ExternalID: "ext-" + id, Regions: regions,
	}
}

func existing(a Account, region, alias string) Registry {
	return Registry{
		ID: "id-" + a.ID + "-" + region, URL: RegistryURL(a.ID, region), AccountID: a.ID, Region: region,
		Alias: alias, Credential: Credential{RoleARN: a.RoleARN, ExternalID: a.ExternalID},
	}
}

// ownedBy is a registration of a's in region as owner made it, with a's
// current credential.
func ownedBy(owner Owner, a Account, region string) Registry {
	return existing(a, region, owner.Alias(a.ID, region, credOf(a)))
}

func credOf(a Account) Credential { return Credential{RoleARN: a.RoleARN, ExternalID: a.ExternalID} }

func kinds(p Plan) map[ActionKind][]string {
	m := map[ActionKind][]string{}
	for _, a := range p.Actions {
		m[a.Kind] = append(m[a.Kind], a.Registry.URL)
	}
	return m
}

func TestPlanCreatesMissingAndLeavesPresent(t *testing.T) {
	a := acct("111111111111", "us-west-2", "us-east-1")
	p := planOf([]Account{a}, []Registry{existing(a, "us-east-1", "someone-else")}, Scope{}, "ecr-onboard")

	assert.Equal(t, 2, p.Desired)
	assert.Equal(t, 1, p.Unchanged)
	require.Len(t, p.Actions, 1)
	got := p.Actions[0]
	assert.Equal(t, Create, got.Kind)
	assert.Equal(t, Registry{
		URL: "https://111111111111.dkr.ecr.us-west-2.amazonaws.com", AccountID: a.ID, Region: "us-west-2",
		Alias:      "ecr-onboard-111111111111-us-west-2-" + credOf(a).Fingerprint(),
		Credential: Credential{RoleARN: a.RoleARN, ExternalID: a.ExternalID},
	}, got.Registry)
}

func TestPlanMatchesNormalizedURLs(t *testing.T) {
	a := acct("111111111111", "us-east-1")
	for _, url := range []string{
		"https://111111111111.dkr.ecr.us-east-1.amazonaws.com",
		"HTTPS://111111111111.DKR.ECR.US-EAST-1.AMAZONAWS.COM/",
		"111111111111.dkr.ecr.us-east-1.amazonaws.com",
		"https://111111111111.dkr.ecr.us-east-1.amazonaws.com//",
	} {
		r := existing(a, "us-east-1", "x")
		r.URL = url
		p := planOf([]Account{a}, []Registry{r}, Scope{}, "ecr-onboard")
		assert.Empty(t, p.Actions, url)
		assert.Equal(t, 1, p.Unchanged, url)
	}
}

func TestPlanDriftOfOwnedRegistrations(t *testing.T) {
	const owner = Owner("ecr-onboard")
	const resent = "; its credential is CSPM's current one: sent again (at most once every 6h0m0s)"
	a := acct("111111111111", "us-east-1")
	old := a
	old.ExternalID = "ext-before-cspm-regenerated-it"
	with := func(f func(*Registry)) Registry {
		r := ownedBy(owner, a, "us-east-1")
		r.Credential = Credential{} // the live API returns no details
		f(&r)
		return r
	}
	for name, tc := range map[string]struct {
		have   Registry
		reason string // "" = unchanged
	}{
		"fingerprint matches":             {with(func(*Registry) {}), ""},
		"masked details are no evidence":  {with(func(r *Registry) { r.Credential = Credential{RoleARN: "****", ExternalID: "****"} }), ""},
		"matching details":                {with(func(r *Registry) { r.Credential = credOf(a) }), ""},
		"paused by a person":              {with(func(r *Registry) { r.State = "paused" }), ""},
		"external ID regenerated in CSPM": {ownedBy(owner, old, "us-east-1"), "CSPM's role ARN or external ID changed since it was registered"},
		"alias of an earlier version": {with(func(r *Registry) { r.Alias = "ecr-onboard-111111111111-us-east-1" }),
			"alias records no credential fingerprint (registered by an earlier version)"},
		"role read back differs":        {with(func(r *Registry) { r.Credential.RoleARN = "arn:aws:iam::111111111111:role/Other" }), "registered role ARN is not CSPM's"},
		"external ID read back differs": {with(func(r *Registry) { r.Credential.ExternalID = "other" }), "registered external ID is not CSPM's"},
		"credential expired":            {with(func(r *Registry) { r.Expired = true }), "Falcon reports the registration's credential expired" + resent},
		"error state":                   {with(func(r *Registry) { r.State = "error" }), `Falcon reports the registration in state "error"` + resent},
		"offline state":                 {with(func(r *Registry) { r.State = "Offline" }), `Falcon reports the registration in state "Offline"` + resent},
		"paused, and drifted":           {with(func(r *Registry) { r.State = "paused"; r.Alias = "ecr-onboard-111111111111-us-east-1" }), ""},
		"a state not known":             {with(func(r *Registry) { r.State = "quarantined" }), ""},
	} {
		t.Run(name, func(t *testing.T) {
			p := planOf([]Account{a}, []Registry{tc.have}, Scope{}, owner)
			if tc.reason == "" {
				assert.Empty(t, p.Actions)
				assert.Equal(t, 1, p.Unchanged)
				return
			}
			want := Action{Kind: Update, Reason: tc.reason, Registry: Registry{
				ID: tc.have.ID, URL: tc.have.URL, AccountID: a.ID, Region: "us-east-1",
				Alias: owner.Alias(a.ID, "us-east-1", credOf(a)), Credential: credOf(a),
			}}
			if strings.HasSuffix(tc.reason, resent) {
				want.Resend, want.Verdict = true, tc.have.verdict()
			}
			assert.Equal(t, []Action{want}, p.Actions)
			assert.Zero(t, p.Unchanged)
		})
	}
}

func TestPlanNeverWritesRegistrationsItDoesNotOwn(t *testing.T) {
	a := acct("111111111111", "us-east-1", "us-west-2")
	healthy := existing(a, "us-east-1", "team-registry")
	healthy.Credential = Credential{RoleARN: "arn:aws:iam::111111111111:role/Other"}
	broken := existing(a, "us-west-2", "ecr-onboard-111111111111-us-west-2-zzzzzzzz") // not the alias form
	broken.Expired = true

	p := planOf([]Account{a}, []Registry{healthy, broken}, Scope{}, "ecr-onboard")

	assert.Empty(t, p.Actions)
	assert.Equal(t, 2, p.Unchanged)
	assert.Equal(t, []Registry{healthy, broken}, p.NotOwned)
	r := newReport(p)
	assert.Equal(t, 2, r.Registries.NotOwned.Count)
	require.Len(t, r.Registries.NotOwned.Unhealthy, 1)
	assert.Equal(t, broken.URL, r.Registries.NotOwned.Unhealthy[0].URL)
	assert.Contains(t, r.Registries.NotOwned.Unhealthy[0].Hint, "registered outside ecr-onboard")
}

func TestOwnerRecognisesBothAliasForms(t *testing.T) {
	const owner = Owner("team.a")
	a := acct("111111111111", "us-east-1")
	r := ownedBy(owner, a, "us-east-1")
	assert.Regexp(t, `^team\.a-111111111111-us-east-1-[0-9a-f]{8}$`, r.Alias)
	assert.True(t, owner.Owns(r))
	for alias, owned := range map[string]bool{
		"team.a-111111111111-us-east-1":           true,
		"team.a-111111111111-us-east-1-0123abcd":  true,
		"team.a-111111111111-us-east-1-0123ABCD":  false,
		"team.a-111111111111-us-east-1-0123abc":   false,
		"team.a-111111111111-us-east-1-0123abcde": false,
		"team.a-111111111111-us-west-2-0123abcd":  false, // another region's alias
		"team.b-111111111111-us-east-1-0123abcd":  false,
		"team.a-111111111111-us-east-1x":          false,
	} {
		r.Alias = alias
		assert.Equal(t, owned, owner.Owns(r), alias)
	}
	assert.False(t, Owner("").Owns(existing(a, "us-east-1", "-111111111111-us-east-1")))
}

func TestFingerprintIsShortAndChangesWithEitherHalf(t *testing.T) {
	c := Credential{RoleARN: "arn:aws:iam::111111111111:role/R", ExternalID: "0123456789abcdef0123456789abcdef"}
	assert.Regexp(t, `^[0-9a-f]{8}$`, c.Fingerprint())
	assert.Equal(t, c.Fingerprint(), c.Fingerprint())
	assert.NotEqual(t, c.Fingerprint(), Credential{RoleARN: c.RoleARN + "2", ExternalID: c.ExternalID}.Fingerprint())
	assert.NotEqual(t, c.Fingerprint(), Credential{RoleARN: c.RoleARN, ExternalID: c.ExternalID + "0"}.Fingerprint())
	assert.NotContains(t, c.Fingerprint(), c.ExternalID[:8])
}

func TestChinaRegionsUseTheChinaDomain(t *testing.T) {
	assert.Equal(t, "https://111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn", RegistryURL("111111111111", "cn-north-1"))
}

// Container Security has no registry-assessment principal in aws-cn
// (internal/crowdstrike): nothing could ever assume a China account's role
// for it, so the account is skipped with that reason rather than written
// and failed on every run.
func TestAccountInAPartitionWithoutARegistryAssessmentPrincipalIsSkipped(t *testing.T) {
	china := acct("111111111111", "cn-north-1", "cn-northwest-1")
	china.RoleARN, china.Type = "arn:aws-cn:iam::111111111111:role/CSPM", "china"
	ok := acct("222222222222", "us-east-1")
	p := planOf([]Account{china, ok}, nil, Scope{}, "p")
	assert.Equal(t, []Skip{{AccountID: china.ID,
		Reason: `Container Security has no registry-assessment principal in partition "aws-cn": it cannot assess this account's registries`, Action: SkipNone}}, p.Skipped)
	assert.Equal(t, SkippedRegistries{}, p.SkippedRegistries, "its regions are not desired: nobody can cover them")
	assert.Equal(t, map[ActionKind][]string{Create: {RegistryURL(ok.ID, "us-east-1")}}, kinds(p))
}

// An account CSPM has registered but not finished onboarding (its role not
// deployed yet) is skipped with a reason naming CSPM's status, and its
// registrations are kept; any other status, known or not, is usable.
func TestAccountCSPMHasNotFinishedOnboardingIsSkipped(t *testing.T) {
	var accounts []Account
	for i, status := range []string{"provisioned", "Provisioned", "Event_DiscoverAccountStatusProvisioned", "operational", "registered", "", "something-new"} {
		a := acct(fmt.Sprintf("10000000000%d", i), "us-east-1")
		a.RegistrationStatus = status
		accounts = append(accounts, a)
	}
	onboarded := ownedBy("p", accounts[0], "us-east-1")
	p := NewPlan(Observed{Accounts: accounts, Registries: []Registry{onboarded}}, Policy{Owner: "p", Mode: Prune})
	assert.Equal(t, []Skip{
		{AccountID: accounts[0].ID, Reason: `CSPM has not finished onboarding this account (registration_status "provisioned"): its CSPM role is not deployed yet`, Action: SkipWait},
		{AccountID: accounts[1].ID, Reason: `CSPM has not finished onboarding this account (registration_status "Provisioned"): its CSPM role is not deployed yet`, Action: SkipWait},
		{AccountID: accounts[2].ID, Reason: `CSPM has not finished onboarding this account (registration_status "Event_DiscoverAccountStatusProvisioned"): its CSPM role is not deployed yet`, Action: SkipWait},
	}, p.Skipped)
	assert.Len(t, p.Eligible, 4, "operational, registered, empty and unknown statuses are usable")
	assert.Equal(t, 4, p.Writes(Create))
	assert.Zero(t, p.Writes(Delete), "a skipped account's registration is not pruned")
	assert.Equal(t, SkippedRegistries{Wait: RegistryCount{Desired: 3, Present: 1}}, p.SkippedRegistries, "pending coverage, not a person's")
}

// Every confused-deputy skip reason, plus the "no active region" one.
func TestSkipReasons(t *testing.T) {
	ok := acct("100000000001", "us-east-1")
	badARN := acct("100000000002", "us-east-1")
	badARN.RoleARN = "arn:aws:iam::100000000002:user/not-a-role"
	otherAccount := acct("100000000003", "us-east-1")
	otherAccount.RoleARN = ok.RoleARN
	emptyExt := acct("100000000004", "us-east-1")
	emptyExt.ExternalID = ""
	blankExt := acct("100000000005", "us-east-1")
	blankExt.ExternalID = "   "
	noRegions := acct("100000000008")
	noRole := acct("100000000009", "us-east-1")
	noRole.RoleARN = ""
	partition := acct("100000000010", "us-gov-west-1")
	partition.RoleARN = "arn:aws-us-gov:iam::100000000010:role/CSPM" // but account_type commercial
	badRegion := acct("100000000011", "us-east-1", "mars-1")
	badID := acct("12345", "us-east-1")

	p := planOf([]Account{ok, badARN, otherAccount, emptyExt, blankExt, noRegions, noRole, partition, badRegion, badID}, nil, Scope{}, "p")

	reasons := map[string]string{}
	for _, s := range p.Skipped {
		reasons[s.AccountID] = s.Reason
	}
	assert.Contains(t, reasons[badARN.ID], "malformed")
	assert.Contains(t, reasons[otherAccount.ID], "belongs to account 100000000001")
	assert.Contains(t, reasons[emptyExt.ID], "no external ID")
	assert.Contains(t, reasons[blankExt.ID], "no external ID")
	assert.Contains(t, reasons[noRegions.ID], "no active region")
	assert.Contains(t, reasons[noRole.ID], "no IAM role ARN")
	assert.Contains(t, reasons[partition.ID], "partition")
	assert.Contains(t, reasons[badRegion.ID], "mars-1")
	assert.Contains(t, reasons["12345"], "12-digit")
	assert.Len(t, reasons, 9)
	assert.Equal(t, []Account{ok}, p.Eligible)
	assert.Equal(t, map[ActionKind][]string{Create: {RegistryURL(ok.ID, "us-east-1")}}, kinds(p))
}

// An AWS Organization registered with CSPM shares one external ID and one
// role name among all its members: each member is onboarded with its own
// role ARN and that ID, never with another account's role.
func TestOrganizationMembersSharingAnExternalIDAreOnboarded(t *testing.T) {
	member1, member2, standalone := acct("100000000001", "us-east-1"), acct("100000000002", "us-east-1", "eu-west-1"), acct("100000000003", "us-east-1")
	member2.ExternalID = member1.ExternalID
	member1.OrganizationID, member2.OrganizationID = "o-abc", "o-abc"
	p := planOf([]Account{member1, member2, standalone}, nil, Scope{}, "p")
	assert.Empty(t, p.Skipped)
	require.Len(t, p.Actions, 4)
	for _, a := range p.Actions {
		_, arnAccount, err := ParseRoleARN(a.Registry.Credential.RoleARN)
		require.NoError(t, err)
		assert.Equal(t, a.Registry.AccountID, arnAccount, "each member's registry carries its own role")
	}
	byURL := map[string]Credential{}
	for _, a := range p.Actions {
		byURL[a.Registry.URL] = a.Registry.Credential
	}
	assert.Equal(t, credOf(member2), byURL[RegistryURL(member2.ID, "eu-west-1")])
	assert.Equal(t, member1.ExternalID, byURL[RegistryURL(member2.ID, "us-east-1")].ExternalID)
}

func TestNoActiveRegionsFallsBackToREGIONS(t *testing.T) {
	a := acct("100000000001")
	p := planOf([]Account{a}, nil, NewScope(nil, nil, []string{"eu-west-1", "us-gov-west-1"}), "p")
	// us-gov-west-1 is not in the role's partition.
	assert.Equal(t, map[ActionKind][]string{Create: {RegistryURL(a.ID, "eu-west-1")}}, kinds(p))
}

func TestScope(t *testing.T) {
	a, b, c := acct("100000000001", "us-east-1", "eu-west-1"), acct("100000000002", "us-east-1"), acct("100000000003", "us-east-1")
	scope := NewScope([]string{a.ID, b.ID}, []string{b.ID}, []string{"eu-west-1"})
	p := planOf([]Account{a, b, c}, nil, scope, "p")
	assert.Equal(t, map[ActionKind][]string{Create: {RegistryURL(a.ID, "eu-west-1")}}, kinds(p))
	assert.Empty(t, p.Skipped, "out-of-scope accounts are not reported as skipped")
	assert.Equal(t, 3, p.Discovered)
}

func TestNarrowNeverWidens(t *testing.T) {
	base := NewScope([]string{"100000000001"}, []string{"100000000009"}, []string{"us-east-1"})
	n := base.Narrow(Narrowing{AccountIDs: []string{"100000000002", "100000000009"}, Regions: []string{"eu-west-1"}})
	assert.False(t, n.HasAccount("100000000002"), "an account outside ACCOUNT_IDS cannot be added")
	assert.False(t, n.HasAccount("100000000009"), "an excluded account cannot be added")
	assert.False(t, n.HasAccount("100000000001"), "narrowed to an account not requested")
	assert.True(t, n.MatchesNothing())
	p := planOf([]Account{acct("100000000001", "us-east-1", "eu-west-1"), acct("100000000002", "eu-west-1")}, nil, n, "p")
	assert.Equal(t, Plan{Discovered: 2, ScopeEmpty: "the request and the configuration (ACCOUNT_IDS, REGIONS) have no account or region in common"}, p)

	open := Scope{}.Narrow(Narrowing{AccountIDs: []string{"100000000002"}})
	assert.True(t, open.HasAccount("100000000002"))
	assert.False(t, open.HasAccount("100000000001"))
	assert.True(t, open.HasRegion("eu-west-1"))
	assert.False(t, open.HasRegion("-"), "only region names are ever in scope")
}

// Only the configured REGIONS stand in for an account CSPM
// lists no active region for; a request's regions narrow, never add.
func TestRequestRegionsNeverWidenTheScope(t *testing.T) {
	silent := acct("888888888888") // no active region
	active := acct("111111111111", "us-east-1", "eu-west-1")
	req := Narrowing{Regions: []string{"eu-west-1"}}

	p := planOf([]Account{silent, active}, nil, Scope{}.Narrow(req), "p")
	assert.Equal(t, []Skip{{AccountID: silent.ID, Reason: "CSPM lists no active region for this account (set REGIONS to onboard it anyway)", Action: SkipFix}}, p.Skipped)
	assert.Equal(t, map[ActionKind][]string{Create: {RegistryURL(active.ID, "eu-west-1")}}, kinds(p))

	// With REGIONS set, the request narrows REGIONS for the silent account too.
	p = planOf([]Account{silent}, nil, NewScope(nil, nil, []string{"us-east-1", "eu-west-1"}).Narrow(req), "p")
	assert.Equal(t, map[ActionKind][]string{Create: {RegistryURL(silent.ID, "eu-west-1")}}, kinds(p))
}

// A request with no region in common with REGIONS writes nothing (it used
// to build https://888888888888.dkr.ecr.-.amazonaws.com).
func TestNoOverlapWritesNothing(t *testing.T) {
	silent, active := acct("888888888888"), acct("111111111111", "us-east-1", "eu-west-1")
	scope := NewScope(nil, nil, []string{"us-east-1"}).Narrow(Narrowing{Regions: []string{"eu-west-1"}})
	p := planOf([]Account{silent, active}, nil, scope, "p")
	assert.Equal(t, Plan{Discovered: 2, ScopeEmpty: "the request and the configuration (ACCOUNT_IDS, REGIONS) have no account or region in common"}, p)
	_, ok := newRegistry(silent.ID, "-", "p", credOf(silent))
	assert.False(t, ok, "no registration can be built for a string that is not a region")
}

func TestNarrowingCheckIsTheOneValidation(t *testing.T) {
	assert.NoError(t, Narrowing{}.Check())
	assert.NoError(t, Narrowing{AccountIDs: []string{"111111111111"}, Regions: []string{"us-gov-west-1"}}.Check())
	err := Narrowing{AccountIDs: []string{"1234"}, Regions: []string{"us-east", "EU-WEST-1"}}.Check()
	assert.EqualError(t, err, `account "1234" is not a 12-digit AWS account ID`+"\n"+
		`region "us-east" is not an AWS region name such as us-east-1`+"\n"+
		`region "EU-WEST-1" is not an AWS region name such as us-east-1`)
	assert.EqualError(t, Narrowing{AccountIDs: []string{}}.Check(), "account_ids is empty: leave it out to keep the configured accounts")
}

func TestDuplicateAccountRecords(t *testing.T) {
	a := acct("111111111111", "us-east-1")
	again := acct("111111111111", "eu-west-1") // same credential, another region
	conflicting := acct("222222222222", "us-east-1")
	other := conflicting
	other.ExternalID = "ext-rotated"

	p := planOf([]Account{a, again, conflicting, other}, nil, Scope{}, "p")

	assert.Equal(t, []Skip{{AccountID: conflicting.ID, Reason: "CSPM lists this account 2 times with different credentials", Action: SkipFix}}, p.Skipped,
		"identical records collapse, conflicting ones are refused")
	assert.Equal(t, 2, p.Discovered)
	assert.Equal(t, map[ActionKind][]string{Create: {RegistryURL(a.ID, "eu-west-1"), RegistryURL(a.ID, "us-east-1")}}, kinds(p))
	_, r, _ := Judge([]Account{a, again, conflicting, other}, conflicting.ID)
	assert.Equal(t, &Refusal{Reason: "CSPM lists this account 2 times with different credentials"}, r, "the trust-policy helper refuses it too")
}

// On a stack Delete, ownership is the alias: every owned registration in
// scope goes, of accounts CSPM lists or not.
func TestDisconnectPlanDeletesEveryOwnedRegistrationInScope(t *testing.T) {
	a := acct("100000000001", "us-east-1", "eu-west-1")
	owned := ownedBy("ecr-onboard", a, "us-east-1")
	manual := existing(a, "eu-west-1", "team-registry")
	wrongRegionAlias := existing(a, "eu-west-1", Owner("ecr-onboard").Alias(a.ID, "us-east-1", credOf(a)))
	gone := acct("100000000002", "us-east-1")
	ownedButGone := ownedBy("ecr-onboard", gone, "us-east-1")
	notECR := Registry{ID: "x", URL: "https://registry.example.com", Alias: "ecr-onboard--"}

	all := []Registry{owned, manual, wrongRegionAlias, ownedButGone, notECR}
	deleted := func(r Registry) Action {
		return Action{Kind: Delete, Registry: r, Reason: "stack deleted with DISCONNECT_ON_DELETE"}
	}
	for _, listed := range [][]Account{{a}, nil} {
		p := NewPlan(Observed{Accounts: listed, Registries: all}, Policy{Owner: "ecr-onboard", Mode: Disconnect})
		assert.Equal(t, []Action{deleted(owned), deleted(ownedButGone)}, p.Actions, "CSPM listing %d accounts", len(listed))
	}
	p := NewPlan(Observed{Registries: all}, Policy{Owner: "ecr-onboard", Mode: Disconnect, Scope: NewScope([]string{gone.ID}, nil, nil)})
	assert.Equal(t, []Action{deleted(ownedButGone)}, p.Actions, "scope applies")
	assert.Equal(t, []Registry{owned}, p.Kept, "and the owned registration outside it is reported kept")
}

// Every state this version knows, by what it means for the plan; any
// other is unknown (reported, never taken as healthy).
func TestStateOf(t *testing.T) {
	for state, kind := range map[string]StateKind{
		"pending": StateTransient, "": StateTransient,
		"paused": StateChoice, " PAUSED ": StateChoice,
		"error": StateVerdict, "failed": StateVerdict, "offline": StateVerdict, "expired": StateVerdict,
		"invalid": StateVerdict, "unauthorized": StateVerdict, "denied": StateVerdict,
		"quarantined": StateUnknown, "error-ish": StateUnknown, "enabled": StateUnknown,
	} {
		assert.Equal(t, kind, StateOf(state), "%q", state)
	}
}

// The plan lists paused and unknown-state registrations, whoever made
// them; it writes none of them.
func TestPlanListsPausedAndUnknownStates(t *testing.T) {
	const owner = Owner("ecr-onboard")
	a := acct("111111111111", "us-east-1", "us-west-2", "eu-west-1")
	paused := ownedBy(owner, a, "us-east-1")
	paused.State, paused.Alias = "paused", "ecr-onboard-111111111111-us-east-1"
	theirs := existing(a, "us-west-2", "team")
	theirs.State = "paused"
	odd := ownedBy(owner, a, "eu-west-1")
	odd.State = "quarantined"

	p := planOf([]Account{a}, []Registry{paused, theirs, odd}, Scope{}, owner)

	assert.Empty(t, p.Actions)
	assert.Equal(t, 3, p.Unchanged)
	assert.Equal(t, []PausedRegistration{{Registry: paused, Drift: "alias records no credential fingerprint (registered by an earlier version)"}, {Registry: theirs}}, p.Paused)
	assert.Equal(t, []Registry{odd}, p.UnknownState)
}

func TestNormalizeURL(t *testing.T) {
	for raw, want := range map[string]string{
		"HTTPS://111111111111.DKR.ECR.us-east-1.AMAZONAWS.COM/":            "https://111111111111.dkr.ecr.us-east-1.amazonaws.com",
		" 111111111111.dkr.ecr.us-east-1.amazonaws.com ":                   "https://111111111111.dkr.ecr.us-east-1.amazonaws.com",
		"https://111111111111.dkr.ecr.us-east-1.amazonaws.com/v2/team?x#y": "https://111111111111.dkr.ecr.us-east-1.amazonaws.com",
		"http://111111111111.dkr.ecr.us-east-1.amazonaws.com//":            "http://111111111111.dkr.ecr.us-east-1.amazonaws.com",
		"registry.example.com:5000/path":                                   "https://registry.example.com:5000",
		"":                                                                 "https://",
	} {
		assert.Equal(t, want, NormalizeURL(raw), raw)
	}
	assert.True(t, Registry{URL: "HTTP://x.example.com"}.Insecure())
	assert.False(t, Registry{URL: "x.example.com"}.Insecure())
}

func TestParseECRURL(t *testing.T) {
	for url, want := range map[string][2]string{
		"https://111111111111.dkr.ecr.us-east-1.amazonaws.com":           {"111111111111", "us-east-1"},
		"111111111111.DKR.ECR.eu-west-1.amazonaws.com/":                  {"111111111111", "eu-west-1"},
		"https://111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn":       {"111111111111", "cn-north-1"},
		"https://111111111111.dkr.ecr.us-gov-west-1.amazonaws.com":       {"111111111111", "us-gov-west-1"},
		"https://111111111111.dkr.ecr.us-east-1.amazonaws.com.cn":        {},
		"https://111111111111.dkr.ecr.cn-north-1.amazonaws.com":          {},
		"https://11111111111.dkr.ecr.us-east-1.amazonaws.com":            {},
		"https://111111111111.dkr.ecr.us-east-1.amazonaws.com/v2/x":      {"111111111111", "us-east-1"},
		"http://111111111111.dkr.ecr.us-east-1.amazonaws.com":            {"111111111111", "us-east-1"},
		"https://111111111111.dkr.ecr-fips.us-east-1.amazonaws.com":      {"111111111111", "us-east-1"},
		"https://111111111111.dkr.ecr-fips.us-gov-west-1.amazonaws.com/": {"111111111111", "us-gov-west-1"},
		"https://111111111111.dkr-ecr.eu-west-1.on.aws":                  {"111111111111", "eu-west-1"},
		"https://111111111111.dkr-ecr-fips.us-east-2.on.aws":             {"111111111111", "us-east-2"},
		"https://111111111111.dkr.ecr-fips.cn-north-1.amazonaws.com.cn":  {},
		"https://111111111111.dkr-ecr.cn-north-1.on.aws":                 {},
		"https://111111111111.dkr.ecr.us-east-1.amazonaws.com:8443":      {},
		"https://api.ecr.us-east-1.amazonaws.com":                        {},
		"https://index.docker.io":                                        {},
	} {
		acc, region, ok := ParseECRURL(url)
		assert.Equal(t, want != [2]string{}, ok, url)
		assert.Equal(t, want, [2]string{acc, region}, url)
	}
}

func TestJudgeAppliesTheRunsRules(t *testing.T) {
	a, b, c := acct("100000000001", "us-east-1"), acct("100000000002", "us-east-1"), acct("100000000003", "us-east-1")
	c.ExternalID = b.ExternalID // one organization's members
	all := []Account{a, b, c}
	judged := func(id string) string {
		_, r, ok := Judge(all, id)
		require.True(t, ok)
		if r == nil {
			return ""
		}
		return r.Reason
	}
	assert.Empty(t, judged(a.ID))
	assert.Empty(t, judged(b.ID), "an external ID shared within the tenant is no refusal")
	all[0].RoleARN = b.RoleARN
	assert.Contains(t, judged(a.ID), "belongs to account 100000000002")
	_, _, ok := Judge(all, "999999999999")
	assert.False(t, ok)
}

// A rejected credential's hint names the registry-assessment principal of
// the registry's partition, from the one table (internal/crowdstrike); a
// partition without one says so instead of naming the commercial one.
func TestRejectedCredentialHintPerPartition(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":     "let arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole assume",
		"us-gov-west-1": "let arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCustomerRegistryAssessmentRole assume",
		"cn-north-1":    "CrowdStrike publishes no registry-assessment principal in partition aws-cn",
	} {
		f := failure(Registry{URL: RegistryURL("111111111111", region), Region: region}, ErrCredentialRejected)
		assert.Contains(t, f.Hint, want, region)
	}
	f := failure(Registry{Region: "cn-north-1"}, ErrCredentialRejected)
	assert.NotContains(t, f.Hint, "292230061137", "no fallback to the commercial principal")
}

// Another prefix's fingerprinted alias, for the registration's own account
// and region, is recognised; anything else is not.
func TestOwnerOtherPrefix(t *testing.T) {
	a := acct("111111111111", "us-east-1")
	with := func(alias string) Registry { return existing(a, "us-east-1", alias) }
	fp := credOf(a).Fingerprint()
	for alias, want := range map[string]string{
		"ecr-onboard-111111111111-us-east-1-" + fp:    "ecr-onboard",
		"team.a-111111111111-us-east-1-0123abcd":      "team.a",
		"mine-111111111111-us-east-1-" + fp:           "", // this owner's
		"ecr-onboard-111111111111-us-east-1":          "", // no fingerprint: anyone's name
		"ecr-onboard-222222222222-us-east-1-" + fp:    "", // another account
		"ecr-onboard-111111111111-eu-west-1-" + fp:    "", // another region
		"-111111111111-us-east-1-" + fp:               "",
		"bad prefix-111111111111-us-east-1-" + fp:     "",
		"ecr-onboard-111111111111-us-east-1-XYZ12345": "",
		"team-registry": "",
	} {
		got, ok := Owner("mine").OtherPrefix(with(alias))
		assert.Equal(t, want, got, alias)
		assert.Equal(t, want != "", ok, alias)
	}
}
