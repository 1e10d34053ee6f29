// Package orgtest builds a small AWS organisation in moto (internal/mototest)
// for tests of VERIFY_TRUST and the member-account setup: a home account
// with the onboarding function's role, and member accounts with CSPM roles
// and the trust-reader role the member stack deploys. Once built, Enforce
// makes moto check every call against the caller's IAM policies, so a test
// sees what the function's and the reader's permissions allow.
//
// What moto does and does not do here (moto 5.2.1):
//   - sts:AssumeRole into another account answers credentials that act in
//     that account's IAM backend;
//   - with permissions enforced, moto evaluates the caller's identity
//     policies, resources included (the function may assume only
//     .../role/<reader>; the reader may iam:GetRole only the CSPM role). STS
//     denials read as AccessDenied (HTTP 403); IAM denials come in a body
//     the Go SDK cannot parse (UnknownError, HTTP 403), where AWS says
//     AccessDenied;
//   - moto does not evaluate a cross-account role's trust policy, and it
//     answers sts:AssumeRole of a role that does not exist with credentials;
//     an iam call made with them then fails with HTTP 500. AWS answers
//     AccessDenied to the AssumeRole.
//
// Only tests import this package.
package orgtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

// Names used throughout.
const (
	HomeAccount    = mototest.AccountID // moto's default account plays the onboarding account
	OrganizationID = "o-exampleorgid1"
	FunctionRole   = "ecr-onboard-EcrOnboardFunctionRole-ABC123"
	ReaderRole     = "EcrOnboardTrustReader"
)

// ManagedPolicies makes AWS's managed policies exist in moto (New's motoEnv).
const ManagedPolicies = "MOTO_IAM_LOAD_MANAGED_POLICIES=true"

// FunctionRoleARN is the onboarding function's role.
const FunctionRoleARN = "arn:aws:iam::" + HomeAccount + ":role/" + FunctionRole

// Org is a moto server playing an organisation.
type Org struct {
	T   testing.TB
	Srv *mototest.Server

	mu    sync.Mutex
	calls []string // "Service.Operation" of calls made with Recorded configs
}

// New starts moto and creates the onboarding function's role in the home
// account: trusted by Lambda, allowed sts:AssumeRole on
// arn:aws:iam::*:role/<ReaderRole> only (the template's VerifyTrust
// statement) and sns:Publish. motoEnv goes to moto, e.g.
// ManagedPolicies (every account then loads them: slower).
func New(t testing.TB, motoEnv ...string) *Org {
	t.Helper()
	o := &Org{T: t, Srv: mototest.Start(t, motoEnv...)}
	api := iam.NewFromConfig(o.Srv.Config())
	o.createRole(api, FunctionRole, "/", map[string]any{"Effect": "Allow", "Principal": map[string]any{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
	o.putPolicy(api, FunctionRole,
		map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/" + ReaderRole},
		map[string]any{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"})
	return o
}

// Member is a member account.
type Member struct {
	org *Org
	ID  string
	IAM *iam.Client // as the account's administrator (before Enforce)
}

// Member returns account id, reached as its OrganizationAccountAccessRole
// (an administrator role, created here, that keeps working after Enforce).
func (o *Org) Member(id string) *Member {
	o.T.Helper()
	arn := "arn:aws:iam::" + id + ":role/OrganizationAccountAccessRole"
	// Before Enforce moto lets anyone assume a role that does not exist yet:
	// enough to create it.
	bootstrap := iam.NewFromConfig(o.assume(o.Srv.Config(), arn, "bootstrap"))
	o.createRole(bootstrap, "OrganizationAccountAccessRole", "/", map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + HomeAccount + ":root"}, "Action": "sts:AssumeRole"})
	o.putPolicy(bootstrap, "OrganizationAccountAccessRole", map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"})
	return &Member{org: o, ID: id, IAM: iam.NewFromConfig(o.assume(o.Srv.Config(), arn, "admin"))}
}

// CSPMRole creates a role with the given trust policy (JSON) and returns its ARN.
func (m *Member) CSPMRole(name, path, trustPolicy string) string {
	m.org.T.Helper()
	out, err := m.IAM.CreateRole(context.Background(), &iam.CreateRoleInput{
		RoleName: aws.String(name), Path: aws.String(path), AssumeRolePolicyDocument: aws.String(trustPolicy),
	})
	require.NoError(m.org.T, err)
	return aws.ToString(out.Role.Arn)
}

// TrustReader creates the member stack's trust-reader role: assumable by
// the function's role within the organisation, allowed iam:GetRole on
// readable alone.
func (m *Member) TrustReader(readable string) {
	m.org.T.Helper()
	m.org.createRole(m.IAM, ReaderRole, "/", map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"AWS": FunctionRoleARN}, "Action": "sts:AssumeRole",
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": OrganizationID}},
	})
	m.org.putPolicy(m.IAM, ReaderRole, map[string]any{"Effect": "Allow", "Action": "iam:GetRole", "Resource": readable})
}

// Role creates a role with a trust policy (JSON) and an inline policy of
// statements, and returns its ARN.
func (m *Member) Role(name, trustPolicy string, statements ...any) string {
	m.org.T.Helper()
	arn := m.CSPMRole(name, "/", trustPolicy)
	m.org.putPolicy(m.IAM, name, statements...)
	return arn
}

// As is an AWS configuration with roleARN's credentials (assumed before
// Enforce), its calls recorded.
func (o *Org) As(roleARN string) aws.Config {
	o.T.Helper()
	return o.Recorded(o.assume(o.Srv.Config(), roleARN, "test"))
}

// TrustPolicy is a role's trust policy as moto holds it (URL-decoded).
func (m *Member) TrustPolicy(name string) string {
	m.org.T.Helper()
	out, err := m.IAM.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(name)})
	require.NoError(m.org.T, err)
	doc, err := iamrole.DecodePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument))
	require.NoError(m.org.T, err)
	return doc
}

// FunctionConfig is an AWS configuration with the onboarding function's
// credentials (its role, assumed in the home account), one attempt per
// call, and its calls recorded (Calls).
func (o *Org) FunctionConfig() aws.Config {
	o.T.Helper()
	return o.Recorded(o.assume(o.Srv.Config(), FunctionRoleARN, "ecr-onboard"))
}

// Recorded adds the call recorder to cfg and makes one attempt per call
// (moto's 500s are not worth retrying, and tests stay quick), each on a
// connection of its own (mototest.HTTPClient: a dropped idle connection is
// no failure of the code under test).
func (o *Org) Recorded(cfg aws.Config) aws.Config {
	cfg.RetryMaxAttempts = 1
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = mototest.HTTPClient()
	}
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("orgtest.record", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			o.mu.Lock()
			o.calls = append(o.calls, awsmiddleware.GetServiceID(ctx)+"."+awsmiddleware.GetOperationName(ctx))
			o.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	})
	return cfg
}

// Calls are the calls made through Recorded configurations, in order.
func (o *Org) Calls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

// Count is how many of Calls are op ("STS.AssumeRole").
func (o *Org) Count(op string) int {
	n := 0
	for _, c := range o.Calls() {
		if c == op {
			n++
		}
	}
	return n
}

// Admin is an AWS configuration of an administrator of the home account
// that keeps working after Enforce (a user with a "*" policy).
func (o *Org) Admin() aws.Config {
	o.T.Helper()
	ctx := context.Background()
	api := iam.NewFromConfig(o.Srv.Config())
	_, err := api.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("test-admin")})
	require.NoError(o.T, err)
	doc := policy(map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"})
	_, err = api.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("test-admin"), PolicyName: aws.String("all"), PolicyDocument: aws.String(doc)})
	require.NoError(o.T, err)
	key, err := api.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("test-admin")})
	require.NoError(o.T, err)
	cfg := o.Srv.Config()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
	return cfg
}

// Enforce makes moto check every later call against the caller's IAM
// policies. Build everything first: the default test credentials stop
// working.
func (o *Org) Enforce() {
	o.T.Helper()
	resp, err := http.Post(o.Srv.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	require.NoError(o.T, err)
	resp.Body.Close()
	require.Equal(o.T, http.StatusOK, resp.StatusCode)
}

func (o *Org) assume(cfg aws.Config, roleARN, session string) aws.Config {
	o.T.Helper()
	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session)})
	require.NoError(o.T, err)
	c := out.Credentials
	cfg = o.Srv.Config()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cfg
}

func (o *Org) createRole(api *iam.Client, name, path string, statements ...any) {
	o.T.Helper()
	_, err := api.CreateRole(context.Background(), &iam.CreateRoleInput{
		RoleName: aws.String(name), Path: aws.String(path), AssumeRolePolicyDocument: aws.String(policy(statements...)),
	})
	require.NoError(o.T, err)
}

func (o *Org) putPolicy(api *iam.Client, role string, statements ...any) {
	o.T.Helper()
	_, err := api.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{
		RoleName: aws.String(role), PolicyName: aws.String("policy"), PolicyDocument: aws.String(policy(statements...)),
	})
	require.NoError(o.T, err)
}

func policy(statements ...any) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	return string(b)
}
