package iamrole

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole/iamfake"
)

const (
	roleARN = "arn:aws:iam::111122223333:role/CrowdStrikeCSPMRole"
	// A policy with characters URL encoding must get right: spaces, '+',
	// '%', '&', '<', '/' and non-ASCII.
	policy = `{"Version": "2012-10-17", "Statement": [{"Sid": "a+b %20 & <c> é", "Effect": "Allow", ` +
		`"Principal": {"AWS": "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"}, "Action": "sts:AssumeRole", ` +
		`"Condition": {"StringEquals": {"sts:ExternalId": "abc+def/ghi="}}}]}`
)

func fakeClient(t *testing.T) (*Client, *iamfake.Server) {
	t.Helper()
	srv := iamfake.New()
	t.Cleanup(srv.Close)
	srv.AddRole(roleARN, policy)
	srv.Setenv(t)
	c, err := New(context.Background(), "aws")
	require.NoError(t, err)
	return c, srv
}

func TestGetRoleDecodesTheTrustPolicy(t *testing.T) {
	c, srv := fakeClient(t)
	role, err := c.GetRole(context.Background(), "CrowdStrikeCSPMRole")
	require.NoError(t, err)
	assert.Equal(t, Role{Name: "CrowdStrikeCSPMRole", ARN: roleARN, TrustPolicy: policy}, role)
	assert.Equal(t, []string{"GetRole"}, srv.Calls())
}

func TestUpdateTrustPolicy(t *testing.T) {
	c, srv := fakeClient(t)
	doc := `{"Version":"2012-10-17","Statement":[]}`
	require.NoError(t, c.UpdateTrustPolicy(context.Background(), "CrowdStrikeCSPMRole", doc))
	assert.Equal(t, []iamfake.Update{{RoleName: "CrowdStrikeCSPMRole", PolicyDocument: doc}}, srv.Updates())

	role, err := c.GetRole(context.Background(), "CrowdStrikeCSPMRole")
	require.NoError(t, err)
	assert.Equal(t, doc, role.TrustPolicy)
}

func TestErrors(t *testing.T) {
	c, srv := fakeClient(t)
	_, err := c.GetRole(context.Background(), "Nope")
	assert.True(t, errors.Is(err, ErrNoSuchRole), "%v", err)
	assert.ErrorContains(t, err, "iam:GetRole Nope")

	srv.DenyUpdate = true
	err = c.UpdateTrustPolicy(context.Background(), "CrowdStrikeCSPMRole", `{}`)
	assert.ErrorContains(t, err, "access denied")
	assert.ErrorContains(t, err, "iam:UpdateAssumeRolePolicy")
	assert.Empty(t, srv.Updates())
	assert.Equal(t, policy, srv.TrustPolicy("CrowdStrikeCSPMRole"))
}

func TestDecodePolicy(t *testing.T) {
	for in, want := range map[string]string{
		"%7B%22a%22%3A%20%22b%2Bc%22%7D": `{"a": "b+c"}`,
		`{"a": "b+c %41"}`:               `{"a": "b+c %41"}`, // already plain JSON: untouched
	} {
		got, err := DecodePolicy(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := DecodePolicy("%zz")
	assert.Error(t, err)
}
