package membersetup

import (
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The orders of events ledger.go rules on, each forced: invocations stop
// at a named step (rig_test.go, at) until the test lets them go on; no
// clock decides anything.

// run starts f in its own goroutine; the channel closes when it returns.
func run(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

// TestRepairRacingTheDeleteWritesNothing: a CSPM stack update drops the
// registry principal; its repair reads its record; then the stack's Delete
// runs to completion; then the repair goes on. It writes nothing to IAM,
// and the role ends exactly as it was before the stack.
func TestRepairRacingTheDeleteWritesNothing(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", cspmPolicy)
	st := a.stack("StackSet-racing-delete", "CSPM")
	created := st.create(map[string]any{"CspmRoleName": "CSPM"})
	a.cspmStackUpdate("CSPM")
	writes := len(a.Writes())

	read := st.at("repair", stepRecordRead)
	var res Repaired
	var err error
	repaired := run(func() { res, err = st.repairAs(invocation("repair"), iamEvent("UpdateAssumeRolePolicy", "CSPM")) })
	read.Reached(t, repaired)

	resp := st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, []string{"DetachRolePolicy CSPM"}, a.Writes()[writes:], "the Delete detached the policy; the principal was gone already")

	read.Go()
	<-repaired
	require.NoError(t, err)
	assert.Equal(t, "idle", res.Status)
	assert.Len(t, a.Writes(), writes+1, "the repair wrote nothing")
	a.as("CSPM", cspmPolicy, false)
	assert.Empty(t, st.recorded(), "and recorded nothing")
}

// TestRepairsRacingEachOtherKeepEveryAddition: the role trusted the
// registry principal in a statement of its own and had the ECR policy
// before the stack, so the Create added nothing. A CSPM stack update sends
// UpdateAssumeRolePolicy (dropping that statement) and DetachRolePolicy
// seconds apart: two events, two repairs, both having read the record
// before either writes. The first adds the principal (the policy still
// attached when it looked); the second re-attaches the policy. The record
// keeps both, and the stack's Delete removes both.
func TestRepairsRacingEachOtherKeepEveryAddition(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", inSecondStatement)
	a.attach("CSPM", ecrPolicy)
	st := a.stack("StackSet-racing-repairs", "CSPM")
	created := st.create(map[string]any{"CspmRoleName": "CSPM"})
	require.Empty(t, a.Writes(), "ready as it was")

	a.cspmStackUpdate("CSPM") // UpdateAssumeRolePolicy: the second statement is gone
	trust := st.at("trust event", stepIAMWrite)
	var first, second Repaired
	var err1, err2 error
	firstDone := run(func() {
		first, err1 = st.repairAs(invocation("trust event"), iamEvent("UpdateAssumeRolePolicy", "CSPM"))
	})
	trust.Reached(t, firstDone) // it found the principal missing, the policy attached

	read := st.at("detach event", stepRecordRead)
	secondDone := run(func() {
		second, err2 = st.repairAs(invocation("detach event"), iamEvent("DetachRolePolicy", "CSPM"))
	})
	read.Reached(t, secondDone) // it read the record too: no entry yet
	a.detach("CSPM", ecrPolicy) // DetachRolePolicy
	read.Go()
	trust.Go()
	<-firstDone
	<-secondDone
	require.NoError(t, err1)
	require.NoError(t, err2)
	assert.True(t, first.TrustPolicyUpdated && !first.EcrReadOnlyAttached, "%+v", first)
	assert.True(t, !second.TrustPolicyUpdated && second.EcrReadOnlyAttached, "%+v", second)
	assert.Equal(t, []string{"UpdateAssumeRolePolicy CSPM", "AttachRolePolicy CSPM"}, a.Writes())
	assert.Contains(t, st.recorded(), `"CSPM":{"principal":"added-to-string","ecr_read_only":true}`, "both kept")

	resp := st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	a.as("CSPM", cspmPolicy, false)
}

// TestDeleteWaitsForTheRepairInFlight: one invocation at a time. A repair
// is about to write; the stack's Delete arrives and waits for its turn
// (it finds the lease taken); the repair writes and ends; the Delete then
// undoes what the Create and the repair added: the role is as it was
// before the stack.
func TestDeleteWaitsForTheRepairInFlight(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", cspmPolicy)
	st := a.stack("StackSet-delete-waits", "CSPM")
	created := st.create(map[string]any{"CspmRoleName": "CSPM"})
	a.cspmStackUpdate("CSPM")

	write := st.at("repair", stepIAMWrite)
	var res Repaired
	var err error
	repaired := run(func() { res, err = st.repairAs(invocation("repair"), scheduled()) })
	write.Reached(t, repaired)

	waits := st.at("delete", "lease wait")
	var resp cfn.Response
	deleted := run(func() { resp = st.sendAs(invocation("delete"), cfn.RequestDelete, created.PhysicalResourceID, nil) })
	waits.Reached(t, deleted)
	assert.NotEmpty(t, st.recorded(), "the Delete has not begun")

	write.Go()
	<-repaired
	require.NoError(t, err)
	assert.True(t, res.TrustPolicyUpdated)
	waits.Go()
	<-deleted
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	a.as("CSPM", cspmPolicy, false)
	assert.Empty(t, st.recorded())
}
