package membersetup

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

// IAM's quotas (the Front enforces them as IAM does; moto does not).

// longPolicy is CSPM's trust policy with one more statement, n characters
// in all as IAM counts them (whitespace not counted).
func longPolicy(t *testing.T, n int) string {
	t.Helper()
	extra := `{"Sid": "%s", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}, `
	doc := func(sid string) string {
		return strings.Replace(cspmPolicy, `"Statement": [`, `"Statement": [`+fmt.Sprintf(extra, sid), 1)
	}
	d := doc(strings.Repeat("A", n-iamrole.PolicySize(doc(""))))
	require.Equal(t, n, iamrole.PolicySize(d))
	return d
}

// attachTen attaches ten managed policies of the account's own to role.
func (a *memberAccount) attachTen(role string) {
	a.t.Helper()
	for i := range 10 {
		p, err := a.iam.CreatePolicy(context.Background(), &iam.CreatePolicyInput{PolicyName: aws.String(fmt.Sprintf("%s-%d", role, i)),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}`)})
		require.NoError(a.t, err)
		a.attach(role, aws.ToString(p.Policy.Arn))
	}
}

// TestQuotasRefuseBeforeWriting: a trust policy of 2,000 characters would
// be 2,077 with the registry principal, over the default quota of 2,048;
// a role with ten managed policies can take no eleventh. Create is FAILED
// naming the quota and the remedy, and nothing is written (the other
// write, within its quota, neither).
func TestQuotasRefuseBeforeWriting(t *testing.T) {
	a := newAccount(t)
	long := longPolicy(t, 2000)
	prep, err := trustpolicy.Prepare(long, "aws")
	require.NoError(t, err)
	require.Equal(t, 2077, iamrole.PolicySize(string(prep.Updated)))

	a.role("Long", "/", long)
	a.role("Full", "/", cspmPolicy)
	a.attachTen("Full")
	a.role("Both", "/", long)
	a.attachTen("Both")
	trustQuota := "the trust policy of role %s would be 2077 characters (whitespace not counted), over this account's IAM quota of 2048 (ACLSizePerRole, \"Role trust policy length\" in Service Quotas): " +
		"shorten the trust policy (remove statements or principals no longer needed), or request an increase of that quota (up to 4096) in Service Quotas, then change Revision or wait for the next repair"
	policyQuota := "role %s has 10 managed policies attached, this account's IAM quota (PoliciesPerRole, \"Managed policies per role\" in Service Quotas) is 10: " +
		"detach a policy the role no longer needs, or request an increase of that quota (up to 20) in Service Quotas, then change Revision or wait for the next repair"
	for role, want := range map[string][]string{
		"Long": {fmt.Sprintf(trustQuota, "Long")},
		"Full": {fmt.Sprintf(policyQuota, "Full")},
		"Both": {fmt.Sprintf(trustQuota, "Both"), fmt.Sprintf(policyQuota, "Both")},
	} {
		t.Run(role, func(t *testing.T) {
			a := a.in(t)
			before := a.policy(role)
			attached := a.attached(role)
			st := a.stack("StackSet-"+role, role)
			resp := st.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": role})
			require.Equal(t, cfn.StatusFailed, resp.Status)
			assert.Equal(t, "role arn:aws:iam::"+account+":role/"+role+" is refused, nothing was changed: "+strings.Join(want, "; "), resp.Reason)
			assert.NotContains(t, resp.Reason, "LimitExceeded", "refused before IAM had to")
			assert.Empty(t, writesTo(a, role))
			assert.Equal(t, before, a.policy(role))
			assert.Equal(t, attached, a.attached(role))

			resp = st.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
			require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			assert.Empty(t, writesTo(a, role))
		})
	}
}

// TestRefusalIsSaidOnce: a CSPM stack update makes the trust policy too
// long to take the registry principal. The first repair says so (ERROR,
// the invocation fails: the Errors metric counts it once); the repairs
// after it, meeting the same refusal, say it at WARN and succeed. Once the
// quota is raised, the next repair prepares the role and forgets the
// refusal; a new refusal is said again.
func TestRefusalIsSaidOnce(t *testing.T) {
	a := newAccount(t)
	a.role("CSPM", "/", cspmPolicy)
	st := a.stack("StackSet-said-once", "CSPM")
	created := st.create(map[string]any{"CspmRoleName": "CSPM"})
	writes := len(a.Writes())

	a.setPolicy("CSPM", longPolicy(t, 2000)) // the CSPM stack update
	_, err := st.repair(iamEvent("UpdateAssumeRolePolicy", "CSPM"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over this account's IAM quota of 2048 (ACLSizePerRole")
	for range 3 { // the event's retries, the schedule
		res, err := st.repair(scheduled())
		require.NoError(t, err, "said already")
		assert.Equal(t, "refused", res.Status)
		assert.True(t, strings.HasPrefix(res.Refused, "role arn:aws:iam::"+account+":role/CSPM is refused, nothing was changed: the trust policy of role CSPM would be 2077 characters"), res.Refused)
	}
	logs := st.logs.String()
	assert.Equal(t, 1, strings.Count(logs, `"level":"ERROR"`), logs)
	assert.Equal(t, 3, strings.Count(logs, `"level":"WARN","msg":"still refused, as the last repair said"`), logs)
	assert.Len(t, a.Writes(), writes)
	assert.Contains(t, st.recorded(), `"refused":"`)

	a.front.SetQuotas(4096, 10) // the quota increase
	res, err := st.repair(scheduled())
	require.NoError(t, err)
	assert.Equal(t, "prepared", res.Status)
	assert.True(t, res.TrustPolicyUpdated)
	assert.NotContains(t, st.recorded(), `"refused"`)
	assert.Contains(t, st.logs.String(), "the refusal the last repair said is mended")

	open := strings.Replace(cspmPolicy, `"Statement": [`, `"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}, `, 1)
	a.setPolicy("CSPM", open)
	_, err = st.repair(scheduled())
	assert.ErrorContains(t, err, `lets any AWS principal ("*") assume the role`, "another refusal: said")
	assert.Equal(t, 2, strings.Count(st.logs.String(), `"level":"ERROR"`))

	a.setPolicy("CSPM", cspmPolicy)
	resp := st.send(cfn.RequestDelete, created.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	a.as("CSPM", cspmPolicy, false)
}
