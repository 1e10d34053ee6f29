package membersetup

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/orgtest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

const (
	account   = mototest.AccountID
	stackID   = "arn:aws:cloudformation:us-east-1:" + account + ":stack/StackSet-ecr-onboard-member-0a1b/5f0e8a70-0000-0000-0000-000000000001"
	connector = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	registry  = "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
	ecrPolicy = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
	extID     = "4f1c0b2e9d8a7c6b5a4f3e2d1c0b9a88"
	// cspmPolicy is what CrowdStrike's CSPM registration template leaves on its role.
	cspmPolicy = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + connector + `"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}]}`
)

// rig is a member account in moto and the custom resource's handler as
// Lambda runs it (cfn.LambdaWrap), answering to a loopback ResponseURL.
type rig struct {
	t    *testing.T
	iam  *iam.Client
	s    *Setup
	url  string
	mu   sync.Mutex
	sent []cfn.Response
	logs strings.Builder
}

// newRig starts moto for t, with AWS's managed policies (needed to attach
// one) unless bare.
func newRig(t *testing.T, bare ...bool) *rig {
	t.Parallel()
	env := []string{"MOTO_IAM_LOAD_MANAGED_POLICIES=true"}
	if len(bare) > 0 && bare[0] {
		env = nil
	}
	srv := mototest.Start(t, env...)
	r := &rig{t: t, iam: iam.NewFromConfig(srv.Config())}
	r.s = &Setup{
		IAM: func(partition string) Roles { return iamrole.NewFromConfig(srv.Config(), partition) },
		Log: jsonlog.New(&r.logs, slog.LevelInfo),
	}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		assert.Equal(t, http.MethodPut, req.Method)
		var resp cfn.Response
		body, _ := io.ReadAll(req.Body)
		assert.NoError(t, json.Unmarshal(body, &resp))
		r.mu.Lock()
		r.sent = append(r.sent, resp)
		r.mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	r.url = rcv.URL + "/cloudformation-response"
	// Every line the handler logged: JSON, each key once.
	t.Cleanup(func() { assert.Empty(t, jsonlog.CheckLines(r.logs.String())) })
	return r
}

// send delivers one request and returns the answer PUT to ResponseURL.
func (r *rig) send(typ cfn.RequestType, physicalID string, props map[string]any) cfn.Response {
	r.t.Helper()
	if props == nil {
		props = map[string]any{}
	}
	props["ServiceToken"] = "arn:aws:lambda:us-east-1:" + account + ":function:member-setup"
	ev := cfn.Event{
		RequestType: typ, RequestID: "req-" + string(typ), ResponseURL: r.url, ResourceType: "Custom::EcrOnboardCspmRole",
		PhysicalResourceID: physicalID, LogicalResourceID: "CspmRolePreparation", StackID: stackID, ResourceProperties: props,
	}
	before := len(r.sent)
	_, err := cfn.LambdaWrap(r.s.Handle)(context.Background(), ev)
	require.NoError(r.t, err, "the answer was delivered")
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(r.t, r.sent, before+1, "exactly one answer")
	resp := r.sent[before]
	assert.Equal(r.t, ev.RequestID, resp.RequestID)
	assert.Equal(r.t, ev.StackID, resp.StackID)
	assert.NotEmpty(r.t, resp.PhysicalResourceID)
	return resp
}

func (r *rig) role(name, path, policy string) string {
	r.t.Helper()
	out, err := r.iam.CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(path), AssumeRolePolicyDocument: aws.String(policy)})
	require.NoError(r.t, err)
	return aws.ToString(out.Role.Arn)
}

func (r *rig) policy(name string) string {
	r.t.Helper()
	out, err := r.iam.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(name)})
	require.NoError(r.t, err)
	doc, err := iamrole.DecodePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument))
	require.NoError(r.t, err)
	return doc
}

func (r *rig) setPolicy(name, doc string) {
	r.t.Helper()
	_, err := r.iam.UpdateAssumeRolePolicy(context.Background(), &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(doc)})
	require.NoError(r.t, err)
}

func (r *rig) attached(name string) []string {
	r.t.Helper()
	out, err := r.iam.ListAttachedRolePolicies(context.Background(), &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	require.NoError(r.t, err)
	var arns []string
	for _, p := range out.AttachedPolicies {
		arns = append(arns, aws.ToString(p.PolicyArn))
	}
	return arns
}

func (r *rig) attach(name, policy string) {
	r.t.Helper()
	_, err := r.iam.AttachRolePolicy(context.Background(), &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(policy)})
	require.NoError(r.t, err)
}

func semantic(t *testing.T, doc string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(doc), &v))
	return v
}

// The acceptance: the role with the CSPM statement gains exactly the
// registry principal under the same condition, and ECR read access; Update
// re-applies what a CSPM stack update reverted; Delete restores the original
// document and detaches the policy; nothing else in the account changes.
func TestCreateUpdateDelete(t *testing.T) {
	r := newRig(t)
	cspmARN := r.role("CrowdStrikeCSPMReader-x1y2", "/cs/", cspmPolicy)
	lambdaPolicy := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}`
	r.role("some-function-role", "/", lambdaPolicy)
	otherCS := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::292230061137:role/SomethingElse"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "zzz"}}}]}`
	r.role("other-crowdstrike-role", "/", otherCS)

	// Create, finding the role.
	resp := r.send(cfn.RequestCreate, "", nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, "ecr-onboard-member/CrowdStrikeCSPMReader-x1y2/added-to-string/attached", resp.PhysicalResourceID)
	assert.Equal(t, map[string]any{"RoleArn": cspmARN, "RoleName": "CrowdStrikeCSPMReader-x1y2", "RegistryPrincipal": registry,
		"TrustPolicyUpdated": "true", "EcrReadOnlyAttached": "true"}, resp.Data)
	want := semantic(t, cspmPolicy)
	want.(map[string]any)["Statement"].([]any)[0].(map[string]any)["Principal"] = map[string]any{"AWS": []any{connector, registry}}
	assert.Equal(t, want, semantic(t, r.policy("CrowdStrikeCSPMReader-x1y2")), "the registry principal joined the CSPM statement, under its condition")
	assert.Equal(t, []string{ecrPolicy}, r.attached("CrowdStrikeCSPMReader-x1y2"))
	assert.Equal(t, lambdaPolicy, r.policy("some-function-role"))
	assert.Equal(t, otherCS, r.policy("other-crowdstrike-role"))
	assert.Empty(t, r.attached("other-crowdstrike-role"))
	id := resp.PhysicalResourceID

	// Update with nothing to do: same physical ID (CloudFormation sends no Delete).
	resp = r.send(cfn.RequestUpdate, id, map[string]any{"Revision": "2"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, id, resp.PhysicalResourceID)
	assert.Equal(t, "false", resp.Data["TrustPolicyUpdated"])

	// A CSPM stack update rewrote the trust policy: Update puts the principal back.
	r.setPolicy("CrowdStrikeCSPMReader-x1y2", cspmPolicy)
	resp = r.send(cfn.RequestUpdate, id, map[string]any{"Revision": "3"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, id, resp.PhysicalResourceID)
	assert.Equal(t, "true", resp.Data["TrustPolicyUpdated"])
	assert.Equal(t, want, semantic(t, r.policy("CrowdStrikeCSPMReader-x1y2")))

	// Delete: the original document (semantically), the policy detached.
	resp = r.send(cfn.RequestDelete, id, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, id, resp.PhysicalResourceID)
	assert.Equal(t, semantic(t, cspmPolicy), semantic(t, r.policy("CrowdStrikeCSPMReader-x1y2")))
	assert.Empty(t, r.attached("CrowdStrikeCSPMReader-x1y2"))
	assert.Equal(t, lambdaPolicy, r.policy("some-function-role"))
	assert.Equal(t, otherCS, r.policy("other-crowdstrike-role"))

	// A second Delete (CloudFormation retries) finds nothing to undo.
	resp = r.send(cfn.RequestDelete, id, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, semantic(t, cspmPolicy), semantic(t, r.policy("CrowdStrikeCSPMReader-x1y2")))

	assert.NotContains(t, r.logs.String(), extID, "no external ID in the logs")
	for _, s := range r.sent {
		b, _ := json.Marshal(s)
		assert.NotContains(t, string(b), extID, "no external ID in the answers")
	}
}

// TestDeleteLeavesWhatWasThere: a principal or policy the role had before
// the stack is not the stack's to remove.
func TestDeleteLeavesWhatWasThere(t *testing.T) {
	r := newRig(t)
	ready := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["` + connector + `", "` + registry + `"]}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}]}`
	r.role("CSPM", "/", ready)
	r.attach("CSPM", ecrPolicy)

	resp := r.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": "CSPM"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, "ecr-onboard-member/CSPM/kept/kept", resp.PhysicalResourceID)
	assert.Equal(t, "false", resp.Data["TrustPolicyUpdated"])
	assert.Equal(t, "false", resp.Data["EcrReadOnlyAttached"])

	resp = r.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, ready, r.policy("CSPM"))
	assert.Equal(t, []string{ecrPolicy}, r.attached("CSPM"))
}

// TestListOfOneAndPaths: a CSPM statement whose principal is a list keeps
// its shape through Create and Delete; a role with a path is named by name.
func TestListOfOneAndPaths(t *testing.T) {
	r := newRig(t)
	list := `{"Version": "2012-10-17", "Statement": [{"Sid": "CSPM", "Effect": "Allow", "Principal": {"AWS": ["` + connector + `"]}, "Action": ["sts:AssumeRole"], "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}]}`
	r.role("Reader", "/crowdstrike/cspm/", list)

	resp := r.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": "Reader"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, "ecr-onboard-member/Reader/added-to-list/attached", resp.PhysicalResourceID)
	assert.Equal(t, "arn:aws:iam::"+account+":role/crowdstrike/cspm/Reader", resp.Data["RoleArn"])

	resp = r.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, semantic(t, list), semantic(t, r.policy("Reader")))
}

// TestRefusals: nothing is written, and the reason names the problem.
func TestRefusals(t *testing.T) {
	t.Parallel()
	noCondition := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + connector + `"}, "Action": "sts:AssumeRole"}]}`
	star := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + connector + `"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}, {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}`
	for name, tc := range map[string]struct {
		roles  map[string]string // name -> trust policy
		props  map[string]any
		reason []string
	}{
		`"*"`: {
			roles:  map[string]string{"CSPM": star},
			reason: []string{"role arn:aws:iam::" + account + ":role/CSPM is refused, nothing was changed", `statement 2 lets any AWS principal ("*") assume the role`},
		},
		"no condition, found": {
			roles:  map[string]string{"CSPM": noCondition},
			reason: []string{"no role trusts CrowdStrike's CSPM connector " + connector + " under an sts:ExternalId condition; trusting it WITHOUT one: arn:aws:iam::" + account + ":role/CSPM."},
		},
		"no condition, named": {
			roles:  map[string]string{"CSPM": noCondition},
			props:  map[string]any{"CspmRoleName": "CSPM"},
			reason: []string{"is refused, nothing was changed", "statement 1 lets " + connector + " assume the role but has no sts:ExternalId condition"},
		},
		"no CSPM role": {
			roles:  map[string]string{"app": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}`},
			reason: []string{"no role in this account trusts CrowdStrike's CSPM connector " + connector + ": register the account with CrowdStrike CSPM first, or set CspmRoleName"},
		},
		"two CSPM roles": {
			roles:  map[string]string{"CSPM-a": cspmPolicy, "CSPM-b": strings.Replace(cspmPolicy, extID, "another-id", 1)},
			reason: []string{"2 roles trust CrowdStrike's CSPM connector", "arn:aws:iam::" + account + ":role/CSPM-a, arn:aws:iam::" + account + ":role/CSPM-b; set CspmRoleName"},
		},
		"named role missing": {
			roles: map[string]string{"CSPM": cspmPolicy}, props: map[string]any{"CspmRoleName": "Nope"},
			reason: []string{"CspmRoleName Nope: no such role in this account"},
		},
		"named role is not a CSPM role": {
			roles: map[string]string{"CSPM": cspmPolicy, "app": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}`},
			props: map[string]any{"CspmRoleName": "app"}, reason: []string{"this is not a CSPM role"},
		},
		"an external ID is no property": {
			roles: map[string]string{"CSPM": cspmPolicy}, props: map[string]any{"ExternalId": extID},
			reason: []string{"unknown property ExternalId", "never an external ID"},
		},
		"role name with a path": {
			roles: map[string]string{"CSPM": cspmPolicy}, props: map[string]any{"CspmRoleName": "cs/CSPM"},
			reason: []string{"CspmRoleName cs/CSPM is not an IAM role name"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, true) // refused before any policy is attached
			for n, p := range tc.roles {
				r.role(n, "/", p)
			}
			resp := r.send(cfn.RequestCreate, "", tc.props)
			require.Equal(t, cfn.StatusFailed, resp.Status)
			for _, want := range tc.reason {
				assert.Contains(t, resp.Reason, want)
			}
			assert.NotContains(t, resp.Reason, extID)
			assert.Equal(t, "ecr-onboard-member/-/kept/kept", resp.PhysicalResourceID)
			for n, p := range tc.roles {
				assert.Equal(t, p, r.policy(n), "role %s untouched", n)
				assert.Empty(t, r.attached(n))
			}

			// The rollback's Delete succeeds and touches nothing.
			resp = r.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
			assert.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			for n, p := range tc.roles {
				assert.Equal(t, p, r.policy(n))
			}
		})
	}
}

// TestUpdateToAnotherRole: the new role is prepared under a new physical ID;
// CloudFormation's Delete of the old ID then restores the old role.
func TestUpdateToAnotherRole(t *testing.T) {
	r := newRig(t)
	r.role("Old", "/", cspmPolicy)
	r.role("New", "/", strings.Replace(cspmPolicy, extID, "new-id-0000", 1))
	resp := r.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": "Old"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	oldID := resp.PhysicalResourceID

	resp = r.send(cfn.RequestUpdate, oldID, map[string]any{"CspmRoleName": "New"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, "ecr-onboard-member/New/added-to-string/attached", resp.PhysicalResourceID)
	assert.Contains(t, r.policy("New"), registry)
	assert.Contains(t, r.policy("Old"), registry, "until CloudFormation deletes the old resource")

	resp = r.send(cfn.RequestDelete, oldID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, semantic(t, cspmPolicy), semantic(t, r.policy("Old")))
	assert.Empty(t, r.attached("Old"))
	assert.Contains(t, r.policy("New"), registry)
	assert.Equal(t, []string{ecrPolicy}, r.attached("New"))
}

func TestDeleteOfSomethingElse(t *testing.T) {
	r := newRig(t, true)
	r.role("CSPM", "/", cspmPolicy)
	for _, id := range []string{"req-Create", "ecr-onboard-member/CSPM/bogus/kept", "ecr-onboard-member/-/added-to-string/kept"} {
		resp := r.send(cfn.RequestDelete, id, nil)
		assert.Equal(t, cfn.StatusSuccess, resp.Status, id)
	}
	assert.Equal(t, cspmPolicy, r.policy("CSPM"))
}

// TestPartitions: China has no CrowdStrike principals: refused, not the
// commercial one.
func TestPartitions(t *testing.T) {
	r := newRig(t, true)
	r.role("CSPM", "/", cspmPolicy)
	s := *r.s
	ev := cfn.Event{RequestType: cfn.RequestCreate, StackID: "arn:aws-cn:cloudformation:cn-north-1:" + account + ":stack/x/y", ResourceProperties: map[string]any{}}
	_, _, err := s.Handle(context.Background(), ev)
	assert.ErrorContains(t, err, `partition "aws-cn" has no known CrowdStrike principals`)
	ev.StackID = "not-an-arn"
	_, _, err = s.Handle(context.Background(), ev)
	assert.ErrorContains(t, err, "not a CloudFormation stack ARN")
	assert.Equal(t, cspmPolicy, r.policy("CSPM"))
}

func TestPhysicalID(t *testing.T) {
	t.Parallel()
	for _, a := range []applied{
		{},
		{Role: "R", Addition: trustpolicy.AddedToString, Attached: true},
		{Role: "a+b=c,d.e@f_g-h", Addition: trustpolicy.AddedToList},
		{Role: "R"},
	} {
		got, ok := parseApplied(a.ID())
		require.True(t, ok, a.ID())
		assert.Equal(t, a, got)
	}
	for _, id := range []string{"", "x", "ecr-onboard-member/", "ecr-onboard-member/R/kept", "ecr-onboard-member/R/kept/kept/x", "ecr-onboard-member/a b/kept/kept", "ecr-onboard-member/R/kept/yes"} {
		_, ok := parseApplied(id)
		assert.False(t, ok, id)
	}
}

// TestTemplatePermissionsSuffice runs Create, Update and Delete as the setup function's role with
// the permissions deploy/member/template.yaml gives it (MemberSetupPolicy, resolved for this
// account; internal/deploytest pins the template's statements), moto enforcing them: with and
// without CspmRoleName. moto cannot evaluate the iam:PolicyARN condition on attach/detach (it
// only knows sts:ExternalId), so that condition is left out here.
func TestTemplatePermissionsSuffice(t *testing.T) {
	t.Parallel()
	const member = "210987654321"
	scope := func(roleName string) any {
		if roleName == "" {
			return "arn:aws:iam::" + member + ":role/*"
		}
		return []any{"arn:aws:iam::" + member + ":role/" + roleName, "arn:aws:iam::" + member + ":role/*/" + roleName}
	}
	statements := func(roleName string) []any {
		st := []any{
			map[string]any{"Effect": "Allow", "Action": []any{"iam:GetRole", "iam:UpdateAssumeRolePolicy", "iam:ListAttachedRolePolicies"}, "Resource": scope(roleName)},
			map[string]any{"Effect": "Allow", "Action": []any{"iam:AttachRolePolicy", "iam:DetachRolePolicy"}, "Resource": scope(roleName)},
		}
		if roleName == "" {
			st = append(st, map[string]any{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"})
		}
		return st
	}
	lambdaTrust := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}`

	org := orgtest.New(t, orgtest.ManagedPolicies)
	m := org.Member(member)
	m.CSPMRole("CrowdStrikeCSPMReader-x1y2", "/cs/", cspmPolicy)
	m.CSPMRole("Unrelated", "/", lambdaTrust)
	found := org.As(m.Role("setup-found", lambdaTrust, statements("")...))
	named := org.As(m.Role("setup-named", lambdaTrust, statements("CrowdStrikeCSPMReader-x1y2")...))
	org.Enforce()

	for name, tc := range map[string]struct {
		cfg   aws.Config
		props map[string]any
	}{
		"CSPM role found": {found, nil},
		"CSPM role named": {named, map[string]any{"CspmRoleName": "CrowdStrikeCSPMReader-x1y2"}},
	} {
		r := &rig{t: t}
		r.s = &Setup{IAM: func(partition string) Roles { return iamrole.NewFromConfig(tc.cfg, partition) }, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			var resp cfn.Response
			body, _ := io.ReadAll(req.Body)
			assert.NoError(t, json.Unmarshal(body, &resp))
			r.mu.Lock()
			r.sent = append(r.sent, resp)
			r.mu.Unlock()
		}))
		r.url = rcv.URL
		resp := r.send(cfn.RequestCreate, "", tc.props)
		require.Equal(t, cfn.StatusSuccess, resp.Status, "%s: %s", name, resp.Reason)
		assert.Contains(t, m.TrustPolicy("CrowdStrikeCSPMReader-x1y2"), registry, name)
		resp = r.send(cfn.RequestUpdate, resp.PhysicalResourceID, tc.props)
		require.Equal(t, cfn.StatusSuccess, resp.Status, "%s: %s", name, resp.Reason)
		resp = r.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
		require.Equal(t, cfn.StatusSuccess, resp.Status, "%s: %s", name, resp.Reason)
		assert.Equal(t, semantic(t, cspmPolicy), semantic(t, m.TrustPolicy("CrowdStrikeCSPMReader-x1y2")), name)
		rcv.Close()
	}

	// The named role's permissions do not stretch to other roles.
	_, err := iamrole.NewFromConfig(named, "aws").GetRole(context.Background(), "Unrelated")
	assert.ErrorIs(t, err, iamrole.ErrAccessDenied)
}
