package iamrole

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

const (
	roleName = "CrowdStrikeCSPMReader-abc"
	roleARN  = "arn:aws:iam::" + mototest.AccountID + ":role/cspm/" + roleName
	ecrRead  = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
	// A policy with characters URL encoding must get right: spaces, '+',
	// '%', '&', '<', '/' and non-ASCII.
	policy = `{"Version": "2012-10-17", "Statement": [{"Sid": "a+b %20 & <c> é", "Effect": "Allow", ` +
		`"Principal": {"AWS": "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"}, "Action": "sts:AssumeRole", ` +
		`"Condition": {"StringEquals": {"sts:ExternalId": "abc+def/ghi="}}}]}`
)

// motoIAM starts moto holding the CSPM role, under path /cspm/; with
// managed, AWS's managed policies exist too (slower).
func motoIAM(t *testing.T, managed ...bool) (*mototest.Server, *Client) {
	t.Helper()
	t.Parallel()
	var env []string
	if len(managed) > 0 && managed[0] {
		env = append(env, "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
	}
	srv := mototest.Start(t, env...)
	_, err := iam.NewFromConfig(srv.Config()).CreateRole(context.Background(), &iam.CreateRoleInput{
		RoleName: aws.String(roleName), Path: aws.String("/cspm/"), AssumeRolePolicyDocument: aws.String(policy),
	})
	require.NoError(t, err)
	return srv, NewFromConfig(srv.Config(), "aws")
}

func TestGetRoleDecodesTheTrustPolicy(t *testing.T) {
	_, c := motoIAM(t)
	role, err := c.GetRole(context.Background(), roleName)
	require.NoError(t, err)
	assert.Equal(t, Role{Name: roleName, ARN: roleARN, TrustPolicy: policy}, role)
}

func TestListRoles(t *testing.T) {
	srv, c := motoIAM(t)
	for i := range 3 {
		_, err := iam.NewFromConfig(srv.Config()).CreateRole(context.Background(), &iam.CreateRoleInput{
			RoleName: aws.String(fmt.Sprintf("other-%d", i)), AssumeRolePolicyDocument: aws.String(`{"Statement":[]}`),
		})
		require.NoError(t, err)
	}
	roles, err := c.ListRoles(context.Background())
	require.NoError(t, err)
	byName := map[string]Role{}
	for _, r := range roles {
		byName[r.Name] = r
	}
	assert.Len(t, byName, 4)
	assert.Equal(t, Role{Name: roleName, ARN: roleARN, TrustPolicy: policy}, byName[roleName])
	assert.Equal(t, `{"Statement":[]}`, byName["other-2"].TrustPolicy)
}

func TestUpdateTrustPolicy(t *testing.T) {
	_, c := motoIAM(t)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	require.NoError(t, c.UpdateTrustPolicy(context.Background(), roleName, doc))
	role, err := c.GetRole(context.Background(), roleName)
	require.NoError(t, err)
	assert.Equal(t, doc, role.TrustPolicy)

	err = c.UpdateTrustPolicy(context.Background(), roleName, `{not json`)
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "MalformedPolicyDocument", apiErr.ErrorCode())
}

func TestManagedPolicies(t *testing.T) {
	_, c := motoIAM(t, true)
	ctx := context.Background()
	attached, err := c.AttachedPolicies(ctx, roleName)
	require.NoError(t, err)
	assert.Empty(t, attached)

	require.NoError(t, c.AttachPolicy(ctx, roleName, ecrRead))
	attached, err = c.AttachedPolicies(ctx, roleName)
	require.NoError(t, err)
	assert.Equal(t, []string{ecrRead}, attached)

	require.NoError(t, c.DetachPolicy(ctx, roleName, ecrRead))
	attached, err = c.AttachedPolicies(ctx, roleName)
	require.NoError(t, err)
	assert.Empty(t, attached)

	err = c.DetachPolicy(ctx, roleName, ecrRead)
	assert.True(t, errors.Is(err, ErrNoSuchRole), "detaching what is not attached: NoSuchEntity, %v", err)
}

func TestErrors(t *testing.T) {
	srv, c := motoIAM(t)
	_, err := c.GetRole(context.Background(), "Nope")
	assert.True(t, errors.Is(err, ErrNoSuchRole), "%v", err)
	assert.ErrorContains(t, err, "iam:GetRole Nope")

	// A user allowed iam:GetRole only, with moto checking permissions.
	reader := readOnlyClient(t, srv)
	_, err = reader.GetRole(context.Background(), roleName)
	require.NoError(t, err)
	err = reader.UpdateTrustPolicy(context.Background(), roleName, `{}`)
	assert.True(t, errors.Is(err, ErrAccessDenied), "%v", err)
	assert.ErrorContains(t, err, "iam:UpdateAssumeRolePolicy")
	// moto answers 403 with an error body the SDK cannot parse (AWS: AccessDenied).
	assert.Contains(t, Code(err), "(HTTP 403)")

	role, err := reader.GetRole(context.Background(), roleName)
	require.NoError(t, err)
	assert.Equal(t, policy, role.TrustPolicy, "unchanged")
}

// readOnlyClient creates a user that may only call iam:GetRole and then
// switches moto's permission checks on (moto only checks them from then on).
func readOnlyClient(t *testing.T, srv *mototest.Server) *Client {
	t.Helper()
	ctx := context.Background()
	api := iam.NewFromConfig(srv.Config())
	_, err := api.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("reader")})
	require.NoError(t, err)
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}}})
	_, err = api.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("reader"), PolicyName: aws.String("read"), PolicyDocument: aws.String(string(doc))})
	require.NoError(t, err)
	key, err := api.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("reader")})
	require.NoError(t, err)
	resp, err := http.Post(srv.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	cfg := srv.Config()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(*key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey, "")
	return NewFromConfig(cfg, "aws")
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

func TestNames(t *testing.T) {
	assert.Equal(t, "R", RoleName("arn:aws:iam::111122223333:role/a/b/R"))
	assert.Equal(t, "R", RoleName("arn:aws:iam::111122223333:role/R"))
	for name, ok := range map[string]bool{"EcrOnboardTrustReader": true, "a+b=c,d.e@f_g-h": true, "a/b": false, "": false, strings.Repeat("a", 65): false, "a b": false} {
		assert.Equal(t, ok, ValidRoleName(name), name)
	}
	assert.Equal(t, "us-gov-west-1", Region("aws-us-gov"))
	assert.Equal(t, "us-east-1", Region("aws"))
	assert.Equal(t, "plain", Code(errors.New("plain")))
}
