package membersetup

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoleCreatedAfterTheStack: the member stack arrives before CSPM's
// role (CrowdStrike's StackSet and this one deploy into a new account in no
// defined order). Create succeeds, saying it waits; once CSPM creates its
// role, the repair prepares it (on the IAM event, or on the schedule), with
// no other step; the IAM event of the repair's own write changes nothing.
func TestRoleCreatedAfterTheStack(t *testing.T) {
	a := newAccount(t)
	for _, tc := range []struct {
		name, cspmRoleName, roleArn string
		trigger                     []byte
	}{
		{"found, on IAM's event", "", "arn:aws:iam::" + account + ":role/ecr-onboard-member/no-cspm-role-found-yet", iamEvent("CreateRole", "CrowdStrikeCSPMReader-late")},
		{"named, on the schedule", "CrowdStrikeCSPMReader-named", "arn:aws:iam::" + account + ":role/CrowdStrikeCSPMReader-named", scheduled()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := a.in(t)
			role := tc.cspmRoleName
			if role == "" {
				role = "CrowdStrikeCSPMReader-late"
			}
			st := a.stack("StackSet-"+role, tc.cspmRoleName)
			props := map[string]any{"CspmRoleName": tc.cspmRoleName, "Revision": "1", "RepairIntervalMinutes": "5"}
			created := st.create(props)
			assert.Equal(t, "waiting", created.Data["Status"])
			assert.Equal(t, tc.roleArn, created.Data["RoleArn"], "a valid ARN, for the trust reader's policy")
			assert.Contains(t, created.Reason, "waiting for the CSPM role: ")
			assert.Contains(t, created.Reason, "The setup prepares it within 5 minutes of its appearing, with no further step")
			res, err := st.repair(scheduled())
			require.NoError(t, err)
			assert.Equal(t, "waiting", res.Status)

			a.role(role, "/", cspmPolicy) // CrowdStrike's CSPM StackSet arrives
			res, err = st.repair(tc.trigger)
			require.NoError(t, err)
			assert.Equal(t, Repaired{Status: "prepared", RoleARN: "arn:aws:iam::" + account + ":role/" + role, TrustPolicyUpdated: true, EcrReadOnlyAttached: true}, res)
			assert.Equal(t, []string{"UpdateAssumeRolePolicy " + role, "AttachRolePolicy " + role}, writesTo(a, role))
			a.prepared(role)

			// The events of those writes reach the function too (the
			// template's rule leaves them out; were they delivered, they
			// would find nothing to do).
			res, err = st.repair(iamEvent("UpdateAssumeRolePolicy", role))
			require.NoError(t, err)
			assert.Equal(t, Repaired{Status: "prepared", RoleARN: res.RoleARN}, res)
			assert.Len(t, writesTo(a, role), 2, "no loop: nothing more was written")

			resp := st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
			require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			a.as(role, cspmPolicy, false)
		})
	}
}

// writesTo are the setup's IAM writes to role.
func writesTo(a *memberAccount, role string) []string {
	var out []string
	for _, w := range a.Writes() {
		if strings.HasSuffix(w, " "+role) {
			out = append(out, w)
		}
	}
	return out
}

// TestRewrittenRoleIsPreparedOnce: a CSPM stack update (or a person)
// replaces the trust policy with one without the registry principal, or
// detaches the ECR policy: the next repair prepares the role again, once.
func TestRewrittenRoleIsPreparedOnce(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", cspmPolicy)
	st := a.stack("StackSet-rewritten", "")
	st.create(nil)
	writes := len(a.Writes())

	a.cspmStackUpdate("CSPM")
	for range 3 { // the event, its own write's event, the schedule
		_, err := st.repair(iamEvent("UpdateAssumeRolePolicy", "CSPM"))
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"UpdateAssumeRolePolicy CSPM"}, a.Writes()[writes:], "re-prepared, once")
	a.prepared("CSPM")

	a.detach("CSPM", ecrPolicy)
	for range 2 {
		_, err := st.repair(scheduled())
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"UpdateAssumeRolePolicy CSPM", "AttachRolePolicy CSPM"}, a.Writes()[writes:])
	a.prepared("CSPM")
}

// TestRepairRefuses: a role someone opened to "*" (or to CrowdStrike
// without an external ID, or that names a deleted principal) is refused by
// the repair as by the stack: nothing is written, the invocation fails
// (the function's Errors metric counts it) and an ERROR line names the
// statement.
func TestRepairRefuses(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", cspmPolicy)
	st := a.stack("StackSet-refuses", "")
	st.create(nil)
	writes := len(a.Writes())

	open := strings.Replace(cspmPolicy, `"Statement": [`, `"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}, `, 1)
	a.setPolicy("CSPM", open)
	_, err := st.repair(scheduled())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `role arn:aws:iam::`+account+`:role/CSPM is refused, nothing was changed: statement 1 lets any AWS principal ("*") assume the role`)
	assert.Len(t, a.Writes(), writes)
	assert.Equal(t, open, a.policy("CSPM"))
	assert.Regexp(t, `"level":"ERROR","msg":"repair failed","trigger":"aws.events","error":"role arn:aws:iam::`+account+`:role/CSPM is refused`, st.logs.String())

	// Fixed by its owner: the next repair prepares it.
	a.setPolicy("CSPM", cspmPolicy)
	_, err = st.repair(scheduled())
	require.NoError(t, err)
	a.prepared("CSPM")
}

// TestDeleteRemovesWhatRepairsAdded: the stack's Delete undoes what a
// repair added as well as what the Create added, and leaves what was there
// before the stack.
func TestDeleteRemovesWhatRepairsAdded(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", inSecondStatement)
	a.attach("CSPM", ecrPolicy)
	st := a.stack("StackSet-repaired", "CSPM")
	created := st.create(map[string]any{"CspmRoleName": "CSPM"})
	assert.Empty(t, a.Writes(), "ready as it was")

	a.cspmStackUpdate("CSPM") // the second statement is gone
	res, err := st.repair(scheduled())
	require.NoError(t, err)
	assert.True(t, res.TrustPolicyUpdated)
	assert.Contains(t, st.recorded(), `"CSPM":{"principal":"added-to-string"}`)

	resp := st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	a.as("CSPM", cspmPolicy, true)
}

// TestRepairLeavesAStackWithoutSetupAlone: no record (the stack's Create
// has not run with this version, or its Delete has) or a Delete under way:
// a repair does nothing, so that one racing the stack's deletion cannot
// put back what the Delete took away.
func TestRepairLeavesAStackWithoutSetupAlone(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", cspmPolicy)
	st := a.stack("StackSet-idle", "")
	res, err := st.repair(scheduled())
	require.NoError(t, err)
	assert.Equal(t, "idle", res.Status)

	created := st.create(nil)
	name, _ := recordName(st.id)
	rec := st.s.Record(name)
	r, _, err := loadRecord(t.Context(), rec)
	require.NoError(t, err)
	r.Deleting = true
	require.NoError(t, rec.Put(t.Context(), r.String()))
	a.cspmStackUpdate("CSPM")
	res, err = st.repair(scheduled())
	require.NoError(t, err)
	assert.Equal(t, "idle", res.Status)
	assert.Equal(t, cspmPolicy, a.policy("CSPM"))

	resp := st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	res, err = st.repair(scheduled())
	require.NoError(t, err)
	assert.Equal(t, "idle", res.Status)
	assert.Empty(t, a.attached("CSPM"))

	st.s.StackID = ""
	_, err = st.repair(scheduled())
	assert.ErrorContains(t, err, "no STACK_ID")
}

// TestCreateTakesOverALeftRecord: a stack deleted with its setup retained
// leaves its record (marked as being deleted); a new stack of the same name
// takes it over, undoes it with its own Delete, and its repairs act.
func TestCreateTakesOverALeftRecord(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", cspmPolicy)
	st := a.stack("StackSet-again", "")
	name, _ := recordName(st.id)
	left := record{PhysicalID: physicalID("the-earlier-stack"), Deleting: true, Roles: map[string]added{"CSPM": {ECRReadOnly: true}}}
	require.NoError(t, st.s.Record(name).Put(t.Context(), left.String()))
	a.attach("CSPM", ecrPolicy) // what the earlier stack attached

	created := st.create(nil)
	assert.Equal(t, "false", created.Data["EcrReadOnlyAttached"], "attached already")
	a.cspmStackUpdate("CSPM")
	res, err := st.repair(scheduled())
	require.NoError(t, err)
	assert.Equal(t, "prepared", res.Status)
	assert.True(t, res.TrustPolicyUpdated)

	resp := st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	a.as("CSPM", cspmPolicy, false)
}

// TestWaitingWithoutRepairs: with RepairIntervalMinutes 0 the stack still
// succeeds while it waits, and says what will prepare the role.
func TestWaitingWithoutRepairs(t *testing.T) {
	a := newAccount(t, true)
	st := a.stack("StackSet-no-repairs", "")
	resp := st.send(cfn.RequestCreate, "", map[string]any{"RepairIntervalMinutes": "0"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, "waiting", resp.Data["Status"])
	assert.Contains(t, resp.Reason, "There is no repair schedule (RepairIntervalMinutes 0): once the role exists, change Revision to prepare it")
}
