package iamrole

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

// TestQuotasAreTheAccounts: the quotas are read from the account
// (GetAccountSummary), AWS's defaults on moto, a raised quota once raised.
func TestQuotasAreTheAccounts(t *testing.T) {
	t.Parallel()
	front := mototest.Start(t).Front(t)
	c := NewFromConfig(front.Config(), "aws")
	q, err := c.Quotas(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Quotas{TrustPolicySize: 2048, PoliciesPerRole: 10}, q)

	front.SetQuotas(4096, 20)
	q, err = c.Quotas(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Quotas{TrustPolicySize: 4096, PoliciesPerRole: 20}, q)

	front.SetQuotas(0, 20) // an answer without the value: no guess
	_, err = c.Quotas(context.Background())
	assert.ErrorContains(t, err, "lacks AssumeRolePolicySizeQuota")
}

// TestQuotaChecksAgreeWithIAM: what CheckTrustPolicy and CheckAttach let
// through, IAM (the Front enforcing its quotas as IAM does) saves; what
// they refuse, IAM refuses. Whitespace is not counted.
func TestQuotaChecksAgreeWithIAM(t *testing.T) {
	t.Parallel()
	front := mototest.Start(t, "MOTO_IAM_LOAD_MANAGED_POLICIES=true").Front(t)
	api := iam.NewFromConfig(front.Config())
	c := NewFromConfig(front.Config(), "aws")
	ctx := context.Background()
	q, err := c.Quotas(ctx)
	require.NoError(t, err)
	_, err = api.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("R"), AssumeRolePolicyDocument: aws.String(`{"Statement":[]}`)})
	require.NoError(t, err)

	// A document of exactly n characters as IAM counts them, with as much whitespace again.
	doc := func(n int) string {
		head, tail := `{"Version": "2012-10-17", "Statement": [{"Sid": "`, `", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}`
		pad := n - PolicySize(head+tail)
		return head + strings.Repeat("a", pad) + tail + strings.Repeat(" \n", pad/2)
	}
	for _, n := range []int{2048, 2049} {
		d := doc(n)
		require.Equal(t, n, PolicySize(d))
		checked := q.CheckTrustPolicy("R", d)
		written := c.UpdateTrustPolicy(ctx, "R", d)
		assert.Equal(t, checked == nil, written == nil, "%d characters: check %v, IAM %v", n, checked, written)
		if checked != nil {
			var qe *QuotaError
			require.True(t, errors.As(checked, &qe))
			assert.Equal(t, QuotaError{Role: "R", Quota: "ACLSizePerRole", Size: 2049, Limit: 2048}, *qe)
			assert.Contains(t, checked.Error(), `the trust policy of role R would be 2049 characters (whitespace not counted), over this account's IAM quota of 2048 (ACLSizePerRole, "Role trust policy length" in Service Quotas)`)
			assert.Contains(t, checked.Error(), "request an increase of that quota (up to 4096)")
			var apiErr smithy.APIError
			require.True(t, errors.As(written, &apiErr))
			assert.Equal(t, "LimitExceeded", apiErr.ErrorCode())
			assert.Equal(t, "Cannot exceed quota for ACLSizePerRole: 2048", apiErr.ErrorMessage())
		}
	}

	for i := range 10 {
		p, err := api.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(fmt.Sprintf("p%d", i)),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}`)})
		require.NoError(t, err)
		attached, err := c.AttachedPolicies(ctx, "R")
		require.NoError(t, err)
		require.NoError(t, q.CheckAttach("R", len(attached)))
		require.NoError(t, c.AttachPolicy(ctx, "R", aws.ToString(p.Policy.Arn)))
	}
	attached, err := c.AttachedPolicies(ctx, "R")
	require.NoError(t, err)
	require.Len(t, attached, 10)
	checked := q.CheckAttach("R", len(attached))
	assert.EqualError(t, checked, `role R has 10 managed policies attached, this account's IAM quota (PoliciesPerRole, "Managed policies per role" in Service Quotas) is 10: detach a policy the role no longer needs, or request an increase of that quota (up to 20) in Service Quotas`)
	err = c.AttachPolicy(ctx, "R", ecrRead)
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "Cannot exceed quota for PoliciesPerRole: 10", apiErr.ErrorMessage())
}

// TestThrottlingIsRetried: IAM's Throttling and ConcurrentModification
// answers are retried by the client's retryer; the call succeeds.
func TestThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	front := mototest.Start(t).Front(t)
	_, err := iam.NewFromConfig(front.Config()).CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String("R"), AssumeRolePolicyDocument: aws.String(`{"Statement":[]}`)})
	require.NoError(t, err)
	c := NewFromConfig(front.Config(), "aws")
	front.FailNext("UpdateAssumeRolePolicy", "Throttling", http.StatusBadRequest)
	front.FailNext("UpdateAssumeRolePolicy", "ConcurrentModification", http.StatusConflict)
	require.NoError(t, c.UpdateTrustPolicy(context.Background(), "R", policy))
	assert.Equal(t, 3, front.Calls("UpdateAssumeRolePolicy"))
}
