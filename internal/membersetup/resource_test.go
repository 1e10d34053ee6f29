package membersetup

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

// The starting states of a CSPM role when its member stack arrives.
var (
	// inCSPMStatement: the registry principal trusted in the CSPM statement already.
	inCSPMStatement = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["` + connector + `", "` + registry + `"]}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}]}`
	// inSecondStatement: trusted in a statement of its own, under the same ID
	// (deploy/apply-trust-policy.sh writes it so).
	inSecondStatement = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + connector + `"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}},` +
		` {"Sid": "CrowdStrikeRegistryAssessment", "Effect": "Allow", "Principal": {"AWS": "` + registry + `"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}]}`
	starts = []struct {
		name  string
		trust string
		ecr   bool // AmazonEC2ContainerRegistryReadOnly attached before the stack
	}{
		{"principal absent", cspmPolicy, false},
		{"principal absent, ECR policy there before", cspmPolicy, true},
		{"principal in the CSPM statement", inCSPMStatement, false},
		{"principal in the CSPM statement, ECR policy there before", inCSPMStatement, true},
		{"principal in a second statement", inSecondStatement, false},
		{"principal in a second statement, ECR policy there before", inSecondStatement, true},
	}
)

// prepared asserts that the role trusts the registry principal with the
// CSPM statement's external ID (preparing it again would change nothing)
// and has the ECR read-only policy.
func (a *memberAccount) prepared(role string) {
	a.t.Helper()
	p, err := trustpolicy.Prepare(a.policy(role), "aws")
	require.NoError(a.t, err)
	assert.True(a.t, len(p.Refusals) == 0 && p.Updated == nil, "role %s is prepared: %q", role, p.Refusals)
	assert.Contains(a.t, a.attached(role), ecrPolicy, "role %s has ECR read access", role)
}

// as asserts the role's trust policy (semantically) and whether the ECR
// read-only policy is attached.
func (a *memberAccount) as(role, trust string, ecr bool) {
	a.t.Helper()
	assert.Equal(a.t, semantic(a.t, trust), semantic(a.t, a.policy(role)), "trust policy of %s", role)
	assert.Equal(a.t, ecr, slices.Contains(a.attached(role), ecrPolicy), "ECR read-only policy on %s", role)
}

// cspmStackUpdate is what an update of CrowdStrike's CSPM stack does to its
// role: its trust policy becomes CSPM's document again.
func (a *memberAccount) cspmStackUpdate(role string) { a.setPolicy(role, cspmPolicy) }

// TestRequestSequences: the sequences CloudFormation sends, from every
// starting state of the role. The physical ID is the Create's, answered by
// every later request, so CloudFormation never replaces the resource; a
// Delete of any other ID (one an earlier version would have answered, or
// one CloudFormation replaced) undoes nothing; the stack's own Delete
// removes exactly what the setup added, whenever it added it.
func TestRequestSequences(t *testing.T) {
	a := newAccount(t)
	type step func(t *testing.T, st *memberStack, role string, created cfn.Response)
	sequences := []struct {
		name string
		run  step
		// afterCSPM: the CSPM stack was updated in between: the role ends
		// with CSPM's trust policy rather than its first one.
		afterCSPM bool
	}{
		{"Create, Delete", func(t *testing.T, st *memberStack, role string, c cfn.Response) {}, false},
		{"Create, CSPM stack update, Update (Revision), Delete", func(t *testing.T, st *memberStack, role string, c cfn.Response) {
			a.cspmStackUpdate(role)
			writes := len(a.Writes())
			resp := st.send(cfn.RequestUpdate, c.PhysicalResourceID, map[string]any{"CspmRoleName": role, "Revision": "2"})
			require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			assert.Equal(t, c.PhysicalResourceID, resp.PhysicalResourceID, "the same ID: no replacement, no cleanup Delete")
			assert.Equal(t, "true", resp.Data["TrustPolicyUpdated"])
			assert.Equal(t, []string{"UpdateAssumeRolePolicy " + role}, a.Writes()[writes:], "re-prepared once")
			a.prepared(role)
		}, true},
		{"Create, CSPM stack update, Update, then Deletes of other IDs", func(t *testing.T, st *memberStack, role string, c cfn.Response) {
			a.cspmStackUpdate(role)
			resp := st.send(cfn.RequestUpdate, c.PhysicalResourceID, map[string]any{"CspmRoleName": role, "Revision": "2"})
			require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			writes := len(a.Writes())
			for _, stale := range []string{
				// what the versions that kept their state in the ID answered
				"ecr-onboard-member/" + role + "/added-to-string/kept", "ecr-onboard-member/" + role + "/kept/attached",
				"ecr-onboard-member/" + role + "/added-to-string/attached",
				physicalID("another-create-request"), // another resource's
				"req-Create-0",                       // cfn.LambdaWrap's fallback after a panic
			} {
				resp := st.send(cfn.RequestDelete, stale, nil)
				assert.Equal(t, cfn.StatusSuccess, resp.Status, stale)
				assert.Equal(t, stale, resp.PhysicalResourceID)
				assert.Contains(t, resp.Reason, "nothing", stale)
			}
			assert.Len(t, a.Writes(), writes, "a Delete of another ID writes nothing")
			a.prepared(role)
		}, true},
		{"Create, Update, rollback Update", func(t *testing.T, st *memberStack, role string, c cfn.Response) {
			for _, rev := range []string{"2", "1"} {
				resp := st.send(cfn.RequestUpdate, c.PhysicalResourceID, map[string]any{"CspmRoleName": role, "Revision": rev})
				require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
				assert.Equal(t, c.PhysicalResourceID, resp.PhysicalResourceID)
			}
			a.prepared(role)
		}, false},
	}
	for i, start := range starts {
		for j, seq := range sequences {
			role, stack := fmt.Sprintf("CSPM-%d-%d", i, j), fmt.Sprintf("StackSet-member-%d-%d", i, j)
			t.Run(start.name+"/"+seq.name, func(t *testing.T) {
				a := a.in(t)
				a.role(role, "/", start.trust)
				if start.ecr {
					a.attach(role, ecrPolicy)
				}
				st := a.stack(stack, role)

				created := st.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": role, "Revision": "1"})
				require.Equal(t, cfn.StatusSuccess, created.Status, created.Reason)
				assert.Equal(t, physicalID(fmt.Sprintf("req-%s-0", cfn.RequestCreate)), created.PhysicalResourceID)
				assert.Equal(t, "prepared", created.Data["Status"])
				a.prepared(role)

				seq.run(t, st, role, created)

				resp := st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
				require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
				assert.Empty(t, resp.Reason)
				want := start.trust
				if seq.afterCSPM {
					want = cspmPolicy
				}
				a.as(role, want, start.ecr)
				assert.Empty(t, st.recorded(), "the record goes with the stack")

				// CloudFormation may retry a Delete: nothing more happens.
				resp = st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
				require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
				a.as(role, want, start.ecr)
			})
		}
	}
}

// TestRevisionBumpSurvivesCleanup: the two ways an earlier version undid
// its own repair, replayed (both failed before: the Update answered a new
// ID, and CloudFormation's Delete of the old one undid the repair). (a) ECR
// policy there before the stack; the CSPM stack update resets the role
// (trust policy, and the policy detached); a Revision bump puts both back;
// the Delete CloudFormation would send for the ID the Create answered
// leaves them. (b) The principal in a second statement; the CSPM update
// drops it; the Revision bump adds it to the CSPM statement; that Delete
// leaves the ECR policy attached.
func TestRevisionBumpSurvivesCleanup(t *testing.T) {
	a := newAccount(t)
	for name, tc := range map[string]struct {
		trust    string
		ecr      bool
		earlier  string // the ID an earlier version answered the Create with
		afterAll func(role string)
	}{
		"(a) ECR policy there before":         {cspmPolicy, true, "added-to-string/kept", nil},
		"(b) principal in a second statement": {inSecondStatement, false, "kept/attached", nil},
	} {
		role := "CSPM-" + name[1:2]
		t.Run(name, func(t *testing.T) {
			a := a.in(t)
			a.role(role, "/", tc.trust)
			if tc.ecr {
				a.attach(role, ecrPolicy)
			}
			st := a.stack("StackSet-"+role, role)
			props := map[string]any{"CspmRoleName": role, "Revision": "1"}
			created := st.send(cfn.RequestCreate, "", props)
			require.Equal(t, cfn.StatusSuccess, created.Status, created.Reason)

			a.cspmStackUpdate(role)
			if tc.ecr {
				a.detach(role, ecrPolicy)
			}
			props["Revision"] = "2"
			updated := st.send(cfn.RequestUpdate, created.PhysicalResourceID, props)
			require.Equal(t, cfn.StatusSuccess, updated.Status, updated.Reason)
			require.Equal(t, created.PhysicalResourceID, updated.PhysicalResourceID, "no replacement")
			a.prepared(role)

			// UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, had the ID changed.
			cleanup := st.send(cfn.RequestDelete, "ecr-onboard-member/"+role+"/"+tc.earlier, nil)
			require.Equal(t, cfn.StatusSuccess, cleanup.Status, cleanup.Reason)
			a.prepared(role)
		})
	}
}

// TestRoleChangeAndItsRollback: CspmRoleName Old -> New prepares New and
// undoes Old in the Update itself (same ID: no cleanup Delete will come);
// the rollback's Update does the reverse; Delete leaves both as they were.
func TestRoleChangeAndItsRollback(t *testing.T) {
	a := newAccount(t)
	other := strings.Replace(cspmPolicy, extID, "0f0e0d0c0b0a09080706050403020100", 1)
	a.role("Old", "/", cspmPolicy)
	a.role("New", "/cs/", other)
	a.attach("New", ecrPolicy)
	st := a.stack("StackSet-change", "Old")

	created := st.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": "Old"})
	require.Equal(t, cfn.StatusSuccess, created.Status, created.Reason)
	id := created.PhysicalResourceID

	resp := st.send(cfn.RequestUpdate, id, map[string]any{"CspmRoleName": "New"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, id, resp.PhysicalResourceID)
	assert.Equal(t, "arn:aws:iam::"+account+":role/cs/New", resp.Data["RoleArn"])
	a.prepared("New")
	a.as("Old", cspmPolicy, false)

	resp = st.send(cfn.RequestUpdate, id, map[string]any{"CspmRoleName": "Old"}) // UPDATE_ROLLBACK_IN_PROGRESS
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, id, resp.PhysicalResourceID)
	a.prepared("Old")
	a.as("New", other, true)

	resp = st.send(cfn.RequestDelete, id, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	a.as("Old", cspmPolicy, false)
	a.as("New", other, true)
}

// TestDeleteAfterAFailedCreate: a Create refused before writing answers its
// ID all the same, and the rollback's Delete touches nothing; one that
// failed after a write (the ECR policy cannot be attached: moto without
// AWS's managed policies) recorded that write, and the Delete takes it back.
func TestDeleteAfterAFailedCreate(t *testing.T) {
	t.Run("refused before writing", func(t *testing.T) {
		a := newAccount(t)
		star := `{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}`
		for i, start := range starts {
			role := fmt.Sprintf("CSPM-%d", i)
			trust := strings.Replace(start.trust, `"Statement": [`, `"Statement": [`+star+`, `, 1)
			a.role(role, "/", trust)
			if start.ecr {
				a.attach(role, ecrPolicy)
			}
			st := a.stack("StackSet-"+role, role)
			resp := st.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": role})
			require.Equal(t, cfn.StatusFailed, resp.Status, start.name)
			assert.Contains(t, resp.Reason, `statement 1 lets any AWS principal ("*") assume the role`)
			assert.Equal(t, physicalID("req-Create-0"), resp.PhysicalResourceID)
			resp = st.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
			require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			a.as(role, trust, start.ecr)
		}
		assert.Empty(t, a.Writes())
	})
	t.Run("failed after a write", func(t *testing.T) {
		a := newAccount(t, true)
		a.role("CSPM", "/", cspmPolicy)
		st := a.stack("StackSet-partial", "CSPM")
		resp := st.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": "CSPM"})
		require.Equal(t, cfn.StatusFailed, resp.Status)
		assert.Contains(t, resp.Reason, "iam:AttachRolePolicy CSPM")
		assert.Contains(t, a.policy("CSPM"), registry, "the trust policy was written before the attach failed")
		assert.Contains(t, st.recorded(), `"CSPM":{"principal":"added-to-string"}`)

		resp = st.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
		require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
		a.as("CSPM", cspmPolicy, false)
	})
}

// TestStacksOfEarlierVersions: stacks created by the versions that kept
// their state in the physical ID (ecr-onboard-member/<role>/<trust>/<ecr>)
// and have no record. Their Delete undoes what the ID says; their Update
// keeps the ID (no replacement), records what it says and what the Update
// adds, and their Delete then undoes both.
func TestStacksOfEarlierVersions(t *testing.T) {
	a := newAccount(t)
	a.role("Deleted", "/", inCSPMStatement)
	a.attach("Deleted", ecrPolicy)
	a.role("Updated", "/", inCSPMStatement)
	a.role("Kept", "/", inCSPMStatement)
	a.attach("Kept", ecrPolicy)

	t.Run("Delete", func(t *testing.T) {
		st := a.stack("StackSet-legacy-delete", "Deleted")
		resp := st.send(cfn.RequestDelete, "ecr-onboard-member/Deleted/added-to-string/attached", nil)
		require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
		a.as("Deleted", cspmPolicy, false)
	})
	t.Run("Update, CSPM stack update, repair, Delete", func(t *testing.T) {
		st := a.stack("StackSet-legacy-update", "Updated")
		id := "ecr-onboard-member/Updated/added-to-string/kept" // the principal was ours, the policy not there then
		resp := st.send(cfn.RequestUpdate, id, map[string]any{"CspmRoleName": "Updated", "RepairIntervalMinutes": "5"})
		require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
		assert.Equal(t, id, resp.PhysicalResourceID, "an earlier version's ID is kept: no replacement")
		assert.Equal(t, "true", resp.Data["EcrReadOnlyAttached"])
		a.prepared("Updated")

		a.cspmStackUpdate("Updated")
		res, err := st.repair(scheduled())
		require.NoError(t, err)
		assert.True(t, res.TrustPolicyUpdated)

		resp = st.send(cfn.RequestDelete, id, nil)
		require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
		a.as("Updated", cspmPolicy, false)
	})
	t.Run("nothing added, and a Create that failed", func(t *testing.T) {
		st := a.stack("StackSet-legacy-kept", "Kept")
		for _, id := range []string{"ecr-onboard-member/Kept/kept/kept", "ecr-onboard-member/-/kept/kept"} {
			resp := st.send(cfn.RequestDelete, id, nil)
			require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			a.as("Kept", inCSPMStatement, true)
		}
	})
}

func TestIDsAndRecords(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]legacyID{
		"ecr-onboard-member/R/added-to-string/attached":         {"R", added{trustpolicy.AddedToString, true}},
		"ecr-onboard-member/a+b=c,d.e@f_g-h/added-to-list/kept": {"a+b=c,d.e@f_g-h", added{trustpolicy.AddedToList, false}},
		"ecr-onboard-member/R/kept/kept":                        {"R", added{}},
		"ecr-onboard-member/-/kept/kept":                        {},
	} {
		got, ok := parseLegacyID(id)
		require.True(t, ok, id)
		assert.Equal(t, want, got, id)
		assert.True(t, ours(id), id)
	}
	for _, id := range []string{"", "x", "ecr-onboard-member/", "ecr-onboard-member/R/kept", "ecr-onboard-member/R/kept/kept/x",
		"ecr-onboard-member/a b/kept/kept", "ecr-onboard-member/R/kept/yes", "ecr-onboard-member/-/added-to-string/kept", "ecr-onboard-member/R/bogus/kept"} {
		_, ok := parseLegacyID(id)
		assert.False(t, ok, id)
	}
	assert.True(t, ours(physicalID("5f0e8a70-aaaa-bbbb-cccc-000000000001")))
	assert.False(t, ours("5f0e8a70-aaaa-bbbb-cccc-000000000001"))

	name, err := recordName(stackARN("StackSet-ecr-onboard-member-0a1b"))
	require.NoError(t, err)
	assert.Equal(t, "/ecr-onboard/member/StackSet-ecr-onboard-member-0a1b", name)
	_, err = recordName("arn:aws:cloudformation:us-east-1:1:stackset/x")
	assert.Error(t, err)

	r := record{PhysicalID: physicalID("x")}
	r.add("R", added{Principal: trustpolicy.AddedToList})
	r.add("R", added{ECRReadOnly: true})
	r.add("S", added{})
	assert.Equal(t, `{"physical_resource_id":"ecr-onboard-member/x","roles":{"R":{"principal":"added-to-list","ecr_read_only":true}}}`, r.String())
	back, err := parseRecord(r.String())
	require.NoError(t, err)
	assert.Equal(t, r, back)
	for _, bad := range []string{`nope`, `{"roles":{"a/b":{}}}`, `{"roles":{"R":{"principal":"moved"}}}`} {
		_, err := parseRecord(bad)
		assert.Error(t, err, bad)
	}
}
