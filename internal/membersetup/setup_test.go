package membersetup

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/orgtest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/ssmparam"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
)

// The acceptance: the role with the CSPM statement gains exactly the
// registry principal under the same condition, and ECR read access; Delete
// restores the original document and detaches the policy; nothing else in
// the account changes.
func TestCreateUpdateDelete(t *testing.T) {
	a := newAccount(t)
	cspmARN := a.role("CrowdStrikeCSPMReader-x1y2", "/cs/", cspmPolicy)
	a.role("some-function-role", "/", lambdaTrust)
	otherCS := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::292230061137:role/SomethingElse"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "zzz"}}}]}`
	a.role("other-crowdstrike-role", "/", otherCS)
	st := a.stack("StackSet-ecr-onboard-member-0a1b", "")

	// Create, finding the role.
	resp := st.send(cfn.RequestCreate, "", nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, "ecr-onboard-member/req-Create-0", resp.PhysicalResourceID)
	assert.Equal(t, map[string]any{"Status": "prepared", "RoleArn": cspmARN, "RoleName": "CrowdStrikeCSPMReader-x1y2", "RegistryPrincipal": registry,
		"TrustPolicyUpdated": "true", "EcrReadOnlyAttached": "true"}, resp.Data)
	assert.Empty(t, resp.Reason)
	assert.Equal(t, withRegistry(t, cspmPolicy), semantic(t, a.policy("CrowdStrikeCSPMReader-x1y2")), "the registry principal joined the CSPM statement, under its condition")
	assert.Equal(t, []string{ecrPolicy}, a.attached("CrowdStrikeCSPMReader-x1y2"))
	assert.Equal(t, lambdaTrust, a.policy("some-function-role"))
	assert.Equal(t, otherCS, a.policy("other-crowdstrike-role"))
	assert.Empty(t, a.attached("other-crowdstrike-role"))
	assert.Equal(t, `{"physical_resource_id":"ecr-onboard-member/req-Create-0","roles":{"CrowdStrikeCSPMReader-x1y2":{"principal":"added-to-string","ecr_read_only":true}}}`, st.recorded())
	id := resp.PhysicalResourceID

	// Update with nothing to do: same physical ID, nothing written.
	writes := len(a.Writes())
	resp = st.send(cfn.RequestUpdate, id, map[string]any{"Revision": "2"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, id, resp.PhysicalResourceID)
	assert.Equal(t, "false", resp.Data["TrustPolicyUpdated"])
	assert.Len(t, a.Writes(), writes)

	// Delete: the original document (semantically), the policy detached.
	resp = st.send(cfn.RequestDelete, id, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, id, resp.PhysicalResourceID)
	a.as("CrowdStrikeCSPMReader-x1y2", cspmPolicy, false)
	assert.Equal(t, lambdaTrust, a.policy("some-function-role"))
	assert.Equal(t, otherCS, a.policy("other-crowdstrike-role"))
	assert.Empty(t, st.recorded())
}

// TestListOfOneAndPaths: a CSPM statement whose principal is a list keeps
// its shape through Create and Delete; a role with a path is named by name.
func TestListOfOneAndPaths(t *testing.T) {
	a := newAccount(t)
	list := `{"Version": "2012-10-17", "Statement": [{"Sid": "CSPM", "Effect": "Allow", "Principal": {"AWS": ["` + connector + `"]}, "Action": ["sts:AssumeRole"], "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}]}`
	a.role("Reader", "/crowdstrike/cspm/", list)
	st := a.stack("StackSet-list", "Reader")

	resp := st.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": "Reader"})
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	assert.Equal(t, "arn:aws:iam::"+account+":role/crowdstrike/cspm/Reader", resp.Data["RoleArn"])
	assert.Contains(t, st.recorded(), `"principal":"added-to-list"`)

	resp = st.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
	require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
	a.as("Reader", list, false)
}

// TestRefusals: nothing is written, and the reason names the problem.
func TestRefusals(t *testing.T) {
	t.Parallel()
	noCondition := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + connector + `"}, "Action": "sts:AssumeRole"}]}`
	star := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + connector + `"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}, {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}`
	deleted := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + connector + `"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}, {"Sid": "Ops", "Effect": "Allow", "Principal": {"AWS": "AROADBQP57FF2AEXAMPLE"}, "Action": "sts:AssumeRole"}]}`
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
		"a deleted role's unique ID": {
			roles: map[string]string{"CSPM": deleted},
			reason: []string{"is refused, nothing was changed", `statement 2 ("Ops") names AROADBQP57FF2AEXAMPLE, the unique ID IAM shows in place of a deleted IAM role or user: IAM refuses to save this trust policy while it is there`,
				"Remove it from the statement"},
		},
		"two CSPM roles": {
			roles:  map[string]string{"CSPM-a": cspmPolicy, "CSPM-b": strings.Replace(cspmPolicy, extID, "another-id", 1)},
			reason: []string{"2 roles trust CrowdStrike's CSPM connector", "arn:aws:iam::" + account + ":role/CSPM-a, arn:aws:iam::" + account + ":role/CSPM-b; set CspmRoleName"},
		},
		"named role is not a CSPM role": {
			roles: map[string]string{"CSPM": cspmPolicy, "app": lambdaTrust},
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
		"repair interval": {
			roles: map[string]string{"CSPM": cspmPolicy}, props: map[string]any{"RepairIntervalMinutes": "soon"},
			reason: []string{"RepairIntervalMinutes soon is not a number of minutes"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := newAccount(t, true) // refused before any policy is attached
			for n, p := range tc.roles {
				a.role(n, "/", p)
			}
			st := a.stack("StackSet-refused", "")
			resp := st.send(cfn.RequestCreate, "", tc.props)
			require.Equal(t, cfn.StatusFailed, resp.Status)
			for _, want := range tc.reason {
				assert.Contains(t, resp.Reason, want)
			}
			assert.NotContains(t, resp.Reason, extID)
			assert.Equal(t, "ecr-onboard-member/req-Create-0", resp.PhysicalResourceID)
			for n, p := range tc.roles {
				assert.Equal(t, p, a.policy(n), "role %s untouched", n)
				assert.Empty(t, a.attached(n))
			}

			// The rollback's Delete succeeds and touches nothing.
			resp = st.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
			assert.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			for n, p := range tc.roles {
				assert.Equal(t, p, a.policy(n))
			}
			assert.Empty(t, a.Writes())
		})
	}
}

// TestDeleteNeverBlocksOnWhatIAMRefuses: a principal the CSPM role's trust
// policy named was deleted after the setup (IAM then shows its unique ID,
// and refuses any rewrite that keeps it). The stack's Delete answers
// SUCCESS, says what it left, and undoes the rest. moto keeps the deleted
// role's ARN and saves anything: iamAsAWS refuses as IAM does, and the
// unique-ID form is written in as IAM would show it.
func TestDeleteNeverBlocksOnWhatIAMRefuses(t *testing.T) {
	a := newAccount(t)
	ops := a.role("Ops", "/", lambdaTrust)
	withOps := func(principal string) string {
		return `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["` + connector + `", "` + registry + `"]}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}},` +
			` {"Sid": "Ops", "Effect": "Allow", "Principal": {"AWS": "` + principal + `"}, "Action": "sts:AssumeRole"}]}`
	}
	for name, principal := range map[string]string{
		"unique ID, caught before writing":      "AROADBQP57FF2AEXAMPLE",
		"ARN of a deleted role, refused by IAM": ops,
	} {
		t.Run(name, func(t *testing.T) {
			a := a.in(t)
			role := "CSPM-" + strings.Fields(name)[0]
			a.role(role, "/", cspmPolicy)
			st := a.stack("StackSet-"+role, role)
			resp := st.send(cfn.RequestCreate, "", map[string]any{"CspmRoleName": role})
			require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)

			a.setPolicy(role, withOps(principal)) // someone trusted Ops, and Ops was deleted
			if principal == ops {
				a.deleteRole("Ops")
			}
			resp = st.send(cfn.RequestDelete, resp.PhysicalResourceID, nil)
			require.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
			assert.Contains(t, resp.Reason, "the registry-assessment principal stays in the trust policy of role "+role+", as IAM refuses to save that policy")
			assert.Contains(t, resp.Reason, "REMOVAL_GUIDE.md")
			a.as(role, withOps(principal), false)
			assert.Empty(t, st.recorded())
		})
	}
}

// TestSharedExternalID: CSPM registers an AWS Organization with one role
// name and one external ID for every member account; each member's setup
// prepares its role, with the permissions the member template gives it.
func TestSharedExternalID(t *testing.T) {
	t.Parallel()
	org := orgtest.New(t, orgtest.ManagedPolicies)
	var members []*orgtest.Member
	for _, id := range []string{"210987654321", "210987654322", "210987654323"} {
		m := org.Member(id)
		m.CSPMRole("CrowdStrikeCSPMReader-org", "/", cspmPolicy) // same name, same external ID
		members = append(members, m)
	}
	for _, m := range members {
		stack := "arn:aws:cloudformation:us-east-1:" + m.ID + ":stack/StackSet-ecr-onboard-member-org/5f0e8a70-0000-0000-0000-000000000002"
		cfg := org.As(m.Role("setup", lambdaTrust, templateStatements(m.ID, "")...))
		resp := answer(t, setupAs(cfg, stack, ""), cfn.RequestCreate, stack, "", nil)
		require.Equal(t, cfn.StatusSuccess, resp.Status, "%s: %s", m.ID, resp.Reason)
		assert.Equal(t, withRegistry(t, cspmPolicy), semantic(t, m.TrustPolicy("CrowdStrikeCSPMReader-org")), m.ID)
	}
}

// templateStatements are the setup function's permissions as
// deploy/member/template.yaml gives them (MemberSetupPolicy, resolved for
// account; internal/deploytest pins the template's statements). moto cannot
// evaluate the iam:PolicyARN condition on attach/detach (it only knows
// sts:ExternalId), so that condition is left out here; and it judges SSM
// calls against the resource "*" (moto 5.2.1 core/responses.py: only IAM,
// STS and SQS name their resources), so the record's statement says "*"
// where the template names the stack's one parameter.
func templateStatements(account, roleName string) []any {
	var scope any = "arn:aws:iam::" + account + ":role/*"
	if roleName != "" {
		scope = []any{"arn:aws:iam::" + account + ":role/" + roleName, "arn:aws:iam::" + account + ":role/*/" + roleName}
	}
	st := []any{
		map[string]any{"Effect": "Allow", "Action": []any{"iam:GetRole", "iam:UpdateAssumeRolePolicy", "iam:ListAttachedRolePolicies"}, "Resource": scope},
		map[string]any{"Effect": "Allow", "Action": []any{"iam:AttachRolePolicy", "iam:DetachRolePolicy"}, "Resource": scope},
		map[string]any{"Effect": "Allow", "Action": []any{"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:GetParameterHistory"},
			"Resource": "*"},
	}
	st = append(st, map[string]any{"Effect": "Allow", "Action": "iam:GetAccountSummary", "Resource": "*"})
	if roleName == "" {
		st = append(st, map[string]any{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"})
	}
	return st
}

// setupAs is the function with cfg's credentials, for stack.
func setupAs(cfg aws.Config, stack, roleName string) *Setup {
	return &Setup{
		IAM:      func(partition string) Roles { return iamrole.NewFromConfig(cfg, partition) },
		Record:   func(name string) Record { return ssmparam.Parameter{SSM: ssm.NewFromConfig(cfg), Name: name} },
		Lease:    func(name string) Lease { return ssmparam.Lease{SSM: ssm.NewFromConfig(cfg), Name: name} },
		Log:      jsonlog.New(io.Discard, slog.LevelInfo),
		StackID:  stack,
		RoleName: roleName,
	}
}

// answer sends one request to s and returns its answer.
func answer(t *testing.T, s *Setup, typ cfn.RequestType, stack, physicalID string, props map[string]any) cfn.Response {
	t.Helper()
	var got []cfn.Response
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var resp cfn.Response
		body, _ := io.ReadAll(req.Body)
		assert.NoError(t, json.Unmarshal(body, &resp))
		got = append(got, resp)
	}))
	defer rcv.Close()
	if props == nil {
		props = map[string]any{}
	}
	payload, _ := json.Marshal(cfn.Event{RequestType: typ, RequestID: "req-" + string(typ), ResponseURL: rcv.URL, StackID: stack,
		LogicalResourceID: "CspmRolePreparation", PhysicalResourceID: physicalID, ResourceProperties: props})
	_, err := s.Invoke(context.Background(), payload)
	require.NoError(t, err)
	require.Len(t, got, 1)
	return got[0]
}

// TestTemplatePermissionsSuffice runs Create, a repair, Update and Delete
// as the setup function's role with the permissions the member template
// gives it, moto enforcing them: with and without CspmRoleName.
func TestTemplatePermissionsSuffice(t *testing.T) {
	t.Parallel()
	const member = "210987654321"
	stack := "arn:aws:cloudformation:us-east-1:" + member + ":stack/StackSet-ecr-onboard-member-org/5f0e8a70-0000-0000-0000-000000000003"
	org := orgtest.New(t, orgtest.ManagedPolicies)
	m := org.Member(member)
	m.CSPMRole("CrowdStrikeCSPMReader-x1y2", "/cs/", cspmPolicy)
	m.CSPMRole("Unrelated", "/", lambdaTrust)
	found := org.As(m.Role("setup-found", lambdaTrust, templateStatements(member, "")...))
	named := org.As(m.Role("setup-named", lambdaTrust, templateStatements(member, "CrowdStrikeCSPMReader-x1y2")...))
	org.Enforce()

	for name, tc := range map[string]struct {
		cfg      aws.Config
		roleName string
	}{
		"CSPM role found": {found, ""},
		"CSPM role named": {named, "CrowdStrikeCSPMReader-x1y2"},
	} {
		s := setupAs(tc.cfg, stack, tc.roleName)
		props := map[string]any{"CspmRoleName": tc.roleName}
		resp := answer(t, s, cfn.RequestCreate, stack, "", props)
		require.Equal(t, cfn.StatusSuccess, resp.Status, "%s: %s", name, resp.Reason)
		assert.Contains(t, m.TrustPolicy("CrowdStrikeCSPMReader-x1y2"), registry, name)
		_, err := m.IAM.UpdateAssumeRolePolicy(context.Background(), &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("CrowdStrikeCSPMReader-x1y2"), PolicyDocument: aws.String(cspmPolicy)})
		require.NoError(t, err)
		res, err := s.Invoke(context.Background(), scheduled())
		require.NoError(t, err, name)
		assert.True(t, res.(Repaired).TrustPolicyUpdated, name)
		resp = answer(t, s, cfn.RequestUpdate, stack, resp.PhysicalResourceID, props)
		require.Equal(t, cfn.StatusSuccess, resp.Status, "%s: %s", name, resp.Reason)
		resp = answer(t, s, cfn.RequestDelete, stack, resp.PhysicalResourceID, nil)
		require.Equal(t, cfn.StatusSuccess, resp.Status, "%s: %s", name, resp.Reason)
		assert.Equal(t, semantic(t, cspmPolicy), semantic(t, m.TrustPolicy("CrowdStrikeCSPMReader-x1y2")), name)
	}

	// The named role's permissions do not stretch to other roles.
	_, err := iamrole.NewFromConfig(named, "aws").GetRole(context.Background(), "Unrelated")
	assert.ErrorIs(t, err, iamrole.ErrAccessDenied)
}

// TestPartitions: China has no CrowdStrike principals: refused, not the
// commercial one.
func TestPartitions(t *testing.T) {
	a := newAccount(t, true)
	a.role("CSPM", "/", cspmPolicy)
	china := "arn:aws-cn:cloudformation:cn-north-1:" + account + ":stack/x/y"
	resp := answer(t, setupAs(a.cfg, china, ""), cfn.RequestCreate, china, "", nil)
	assert.Equal(t, cfn.StatusFailed, resp.Status)
	assert.Contains(t, resp.Reason, `partition "aws-cn" has no known CrowdStrike principals`)
	resp = answer(t, setupAs(a.cfg, "", ""), cfn.RequestCreate, "not-an-arn", "", nil)
	assert.Contains(t, resp.Reason, "not a CloudFormation stack ARN")
	assert.Equal(t, cspmPolicy, a.policy("CSPM"))
}

// TestWhatIsNotAnswered: a custom resource request of another stack is
// refused unanswered (its ResponseURL is not called); other payloads are
// unsupported; nothing is written.
func TestWhatIsNotAnswered(t *testing.T) {
	a := newAccount(t, true)
	a.role("CSPM", "/", cspmPolicy)
	st := a.stack("StackSet-own", "")
	called := false
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	defer rcv.Close()
	foreign, _ := json.Marshal(cfn.Event{RequestType: cfn.RequestDelete, RequestID: "r", ResponseURL: rcv.URL, StackID: stackARN("someone-elses"),
		PhysicalResourceID: physicalID("x"), LogicalResourceID: "CspmRolePreparation"})
	for name, payload := range map[string][]byte{
		"another stack's request":             foreign,
		"SQS":                                 []byte(`{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}`),
		"not JSON":                            []byte(`garbage`),
		"a scheduled event of another source": []byte(`{"detail-type":"Scheduled Event","source":"aws.scheduler"}`),
	} {
		_, err := st.s.Invoke(context.Background(), payload)
		assert.Error(t, err, name)
	}
	assert.False(t, called, "nothing PUT to another stack's ResponseURL")
	assert.Equal(t, cspmPolicy, a.policy("CSPM"))
	assert.Empty(t, a.Writes())
}
