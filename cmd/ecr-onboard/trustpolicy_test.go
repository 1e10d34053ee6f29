package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

const (
	tpAccount   = "111122223333"
	tpRoleName  = "CrowdStrikeCSPMRole"
	tpRoleARN   = "arn:aws:iam::" + tpAccount + ":role/" + tpRoleName
	tpExtID     = "4f1c0b2e9d8a7c6b5a4f3e2d1c0b9a88"
	tpCSPM      = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	tpRegistry  = "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
	tpCondition = `"Condition":{"StringEquals":{"sts:ExternalId":"` + tpExtID + `"}}`
)

type tpRig struct {
	sim *falconsim.Sim
	iam *motoIAM
	env map[string]string
}

// newTPRig serves the Falcon simulator (CSPM accounts, tpAccount among them)
// over TLS. With m, the CLI's AWS calls go to that moto (emptied first);
// without, any use of IAM fails the test.
func newTPRig(t *testing.T, m *motoIAM) *tpRig {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(
		falconsim.Account{ID: tpAccount, Type: "commercial", RoleARN: tpRoleARN, ExternalID: tpExtID, Regions: []string{"us-east-1"}},
		falconsim.Account{ID: "222222222222", Type: "commercial", RoleARN: "arn:aws:iam::222222222222:role/CSPM", ExternalID: "other-id", Regions: []string{"us-east-1"}},
		// confused deputy: the record points at another account's role
		falconsim.Account{ID: "666666666666", Type: "commercial", RoleARN: tpRoleARN, ExternalID: "deputy-id", Regions: []string{"us-east-1"}},
		falconsim.Account{ID: "777777777777", Type: "commercial", RoleARN: "arn:aws:iam::777777777777:role/CSPM", ExternalID: " ", Regions: []string{"us-east-1"}},
	)
	srv := falconsim.StartTLS(sim)
	t.Cleanup(srv.Close)
	old := falconHTTPClient
	falconHTTPClient = srv.Client()
	t.Cleanup(func() { falconHTTPClient = old })

	if m != nil {
		m.install(t)
	} else {
		old := newRoleClient
		newRoleClient = func(context.Context, string) (roleClient, error) {
			t.Error("IAM must not be touched")
			return nil, errors.New("IAM must not be touched")
		}
		t.Cleanup(func() { newRoleClient = old })
	}

	interactive := confirmInteractive
	confirmInteractive = func() bool { return false }
	t.Cleanup(func() { confirmInteractive = interactive })

	return &tpRig{sim: sim, iam: m, env: map[string]string{
		"FALCON_BASE_URL":      srv.URL,
		"FALCON_CLIENT_ID":     demo.ClientID,
		"FALCON_CLIENT_SECRET": demo.ClientSecret,
	}}
}

// motoIAM is moto's IAM, behind a mototest.Front (IAM's quotas enforced
// as IAM enforces them), reached by the CLI through the SDK's default
// configuration chain (environment), with the CLI's IAM calls recorded.
type motoIAM struct {
	srv     *mototest.Server // the Front
	api     *iam.Client
	mu      sync.Mutex
	calls   []string // operations the CLI called, in order
	updates []update // successful UpdateAssumeRolePolicy calls
}

type update struct{ RoleName, PolicyDocument string }

// startMotoIAM starts moto playing AWS account account, for the test and
// its subtests (each rig empties it).
func startMotoIAM(t *testing.T, account string) *motoIAM {
	srv := mototest.Start(t, "MOTO_ACCOUNT_ID="+account).Front(t).Server
	return &motoIAM{srv: srv, api: iam.NewFromConfig(srv.Config())}
}

// install empties moto and points the default AWS configuration chain and
// the CLI's IAM client at it, for t.
func (m *motoIAM) install(t *testing.T) {
	m.srv.Reset(t)
	m.mu.Lock()
	m.calls, m.updates = nil, nil
	m.mu.Unlock()
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for _, kv := range append(m.srv.Env(), "AWS_CONFIG_FILE="+empty, "AWS_SHARED_CREDENTIALS_FILE="+empty, "AWS_PROFILE=", "AWS_SESSION_TOKEN=") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	old := newRoleClient
	newRoleClient = func(ctx context.Context, partition string) (roleClient, error) {
		cfg, err := loadAWS(ctx) // the CLI's own chain: the environment above
		if err != nil {
			return nil, err
		}
		cfg.APIOptions = append(cfg.APIOptions, m.record)
		return iamrole.NewFromConfig(cfg, partition), nil
	}
	t.Cleanup(func() { newRoleClient = old })
}

func (m *motoIAM) record(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("record", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleInitialize(ctx, in)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.calls = append(m.calls, awsmiddleware.GetOperationName(ctx))
		if u, ok := in.Parameters.(*iam.UpdateAssumeRolePolicyInput); ok && err == nil {
			m.updates = append(m.updates, update{aws.ToString(u.RoleName), aws.ToString(u.PolicyDocument)})
		}
		return out, md, err
	}), middleware.After)
}

// AddRole creates the role (name and path from its ARN) in moto.
func (m *motoIAM) AddRole(t *testing.T, arn, trustPolicy string) {
	t.Helper()
	path := arn[strings.Index(arn, ":role")+len(":role") : strings.LastIndex(arn, "/")+1]
	_, err := m.api.CreateRole(context.Background(), &iam.CreateRoleInput{
		RoleName: aws.String(iamrole.RoleName(arn)), Path: aws.String(path), AssumeRolePolicyDocument: aws.String(trustPolicy),
	})
	require.NoError(t, err)
}

// TrustPolicy is a role's current trust policy, as moto holds it.
func (m *motoIAM) TrustPolicy(t *testing.T, name string) string {
	t.Helper()
	out, err := m.api.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(name)})
	require.NoError(t, err)
	doc, err := iamrole.DecodePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument))
	require.NoError(t, err)
	return doc
}

func (m *motoIAM) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

func (m *motoIAM) Updates() []update {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]update(nil), m.updates...)
}

func (r *tpRig) run(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := trustPolicy(context.Background(), args, func(k string) string { return r.env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func policyDoc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

func cspmStmt(condition string) string {
	if condition != "" {
		condition = "," + condition
	}
	return `{"Effect":"Allow","Principal":{"AWS":"` + tpCSPM + `"},"Action":"sts:AssumeRole"` + condition + `}`
}

func TestTrustPolicyPrintsTheDocumentWithoutRoleAccess(t *testing.T) {
	r := newTPRig(t, startMotoIAM(t, tpAccount)) // moto has no such role: it cannot be read
	code, stdout, stderr := r.run("--account", tpAccount)
	require.Equal(t, exitOK, code, stderr)

	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), "stdout is only the policy document")
	st := doc["Statement"].([]any)
	require.Len(t, st, 1)
	s := st[0].(map[string]any)
	assert.Equal(t, "Allow", s["Effect"])
	assert.Equal(t, "sts:AssumeRole", s["Action"])
	assert.Equal(t, []any{tpCSPM, tpRegistry}, s["Principal"].(map[string]any)["AWS"])
	assert.Equal(t, map[string]any{"StringEquals": map[string]any{"sts:ExternalId": tpExtID}}, s["Condition"])
	assert.Contains(t, stderr, "DEFAULT")
	assert.Contains(t, stderr, "could not be read")
	assert.Empty(t, r.iam.Updates())
}

func TestTrustPolicyPrintTakesTheCSPMPrincipalFromTheRole(t *testing.T) {
	r := newTPRig(t, startMotoIAM(t, tpAccount))
	const eu = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnectorEU"
	r.iam.AddRole(t, tpRoleARN, policyDoc(`{"Effect":"Allow","Principal":{"AWS":"`+eu+`"},"Action":"sts:AssumeRole",`+tpCondition+`}`))
	code, stdout, stderr := r.run("--account", tpAccount)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, eu)
	assert.NotContains(t, stdout, `"`+tpCSPM+`"`)
	assert.NotContains(t, stderr, "DEFAULT")
	assert.Equal(t, []string{"GetRole"}, r.iam.Calls())
}

func TestTrustPolicyCheck(t *testing.T) {
	m := startMotoIAM(t, tpAccount)
	for name, tc := range map[string]struct {
		policy string
		code   int
		want   []string
	}{
		"correct": {
			policy: policyDoc(`{"Effect":"Allow","Principal":{"AWS":["` + tpCSPM + `","` + tpRegistry + `"]},"Action":"sts:AssumeRole",` + tpCondition + `}`),
			code:   exitOK, want: []string{"no change needed"},
		},
		"missing registry principal": {
			policy: policyDoc(cspmStmt(tpCondition)),
			code:   exitFailed, want: []string{"missing: the registry-assessment principal " + tpRegistry, "+ ", "run with --apply"},
		},
		"missing condition": {
			policy: policyDoc(cspmStmt("")),
			code:   exitFailed, want: []string{"refused:", "has no sts:ExternalId condition"},
		},
		"wrong external ID": {
			policy: policyDoc(cspmStmt(`"Condition":{"StringEquals":{"sts:ExternalId":"not-cspms"}}`)),
			code:   exitFailed, want: []string{"refused:", `"not-cspms"`, tpExtID},
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newTPRig(t, m)
			r.iam.AddRole(t, tpRoleARN, tc.policy)
			code, stdout, stderr := r.run("--account", tpAccount, "--check")
			assert.Equal(t, tc.code, code, stderr)
			for _, w := range tc.want {
				assert.Contains(t, stdout, w)
			}
			assert.Equal(t, []string{"GetRole"}, r.iam.Calls(), "--check changes nothing")
		})
	}
}

func TestTrustPolicyApplyYesWritesTheMergedPolicyOnce(t *testing.T) {
	r := newTPRig(t, startMotoIAM(t, tpAccount))
	other := `{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`
	r.iam.AddRole(t, tpRoleARN, policyDoc(other, cspmStmt(tpCondition)))

	code, stdout, stderr := r.run("--account", tpAccount, "--apply", "--yes")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "--- current trust policy of "+tpRoleName)
	assert.Regexp(t, `(?m)^\+ +"`+regexp.QuoteMeta(tpRegistry)+`"$`, stdout)
	assert.Contains(t, stdout, "updated the trust policy of "+tpRoleARN)

	updates := r.iam.Updates()
	require.Len(t, updates, 1)
	assert.Equal(t, tpRoleName, updates[0].RoleName)
	var doc struct{ Statement []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(updates[0].PolicyDocument), &doc))
	require.Len(t, doc.Statement, 2)
	var ec2 map[string]any
	require.NoError(t, json.Unmarshal([]byte(other), &ec2))
	assert.Equal(t, ec2, doc.Statement[0], "the unrelated statement is untouched")
	assert.Equal(t, []any{tpCSPM, tpRegistry}, doc.Statement[1]["Principal"].(map[string]any)["AWS"])

	a, err := trustpolicy.Analyze(updates[0].PolicyDocument, trustpolicy.Want{Partition: "aws", ExternalID: tpExtID, CSPMPrincipal: tpCSPM})
	require.NoError(t, err)
	assert.True(t, a.Correct())

	// A second run finds nothing to do and does not write.
	code, stdout, _ = r.run("--account", tpAccount, "--apply", "--yes")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "no change needed")
	assert.Len(t, r.iam.Updates(), 1)
	assert.Equal(t, []string{"GetRole", "GetAccountSummary", "UpdateAssumeRolePolicy", "GetRole"}, r.iam.Calls())
}

// An organization member's role is printed, checked and set up from CSPM's
// record like any account's, though its external ID is the organization's,
// shared by every member: sharing is no refusal.
func TestTrustPolicyOrganizationMemberSharingItsExternalID(t *testing.T) {
	org := falconsim.Organization{ID: "o-example0001", FirstAccount: 444455556660, Size: 3, Regions: []string{"us-east-1"}}.Accounts()
	member := org[1]
	require.Equal(t, org[0].ExternalID, member.ExternalID, "one external ID for the organization")
	require.Equal(t, iamrole.RoleName(org[0].RoleARN), iamrole.RoleName(member.RoleARN), "one role name")
	r := newTPRig(t, startMotoIAM(t, member.ID))
	r.sim.AddAccounts(org...)
	condition := `"Condition":{"StringEquals":{"sts:ExternalId":"` + member.ExternalID + `"}}`
	r.iam.AddRole(t, member.RoleARN, policyDoc(`{"Effect":"Allow","Principal":{"AWS":"`+tpCSPM+`"},"Action":"sts:AssumeRole",`+condition+`}`))

	code, stdout, stderr := r.run("--account", member.ID)
	require.Equal(t, exitOK, code, stderr)
	var doc struct{ Statement []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	require.Len(t, doc.Statement, 1)
	assert.Equal(t, []any{tpCSPM, tpRegistry}, doc.Statement[0]["Principal"].(map[string]any)["AWS"])
	assert.Equal(t, map[string]any{"StringEquals": map[string]any{"sts:ExternalId": member.ExternalID}}, doc.Statement[0]["Condition"])

	code, stdout, stderr = r.run("--account", member.ID, "--check")
	assert.Equal(t, exitFailed, code, stderr)
	assert.Contains(t, stdout, "missing: the registry-assessment principal "+tpRegistry)
	assert.NotContains(t, stdout+stderr, "shared")

	code, stdout, stderr = r.run("--account", member.ID, "--apply", "--yes")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "updated the trust policy of "+member.RoleARN)
	updates := r.iam.Updates()
	require.Len(t, updates, 1)
	a, err := trustpolicy.Analyze(updates[0].PolicyDocument, trustpolicy.Want{Partition: "aws", ExternalID: member.ExternalID, CSPMPrincipal: tpCSPM})
	require.NoError(t, err)
	assert.True(t, a.Correct())

	code, stdout, _ = r.run("--account", member.ID, "--check")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "no change needed")
	assert.Equal(t, []string{"GetRole", "GetRole", "GetAccountSummary", "UpdateAssumeRolePolicy", "GetRole"}, r.iam.Calls(), "printing read nothing: CSPM named its principal")
}

// TestTrustPolicyApplyRefusesOverIAMQuota: a trust policy of 2,000
// characters would be over IAM's quota of 2,048 (whitespace not counted)
// once merged: --apply says which quota and what to do, and writes nothing
// (IAM would refuse it: LimitExceeded).
func TestTrustPolicyApplyRefusesOverIAMQuota(t *testing.T) {
	r := newTPRig(t, startMotoIAM(t, tpAccount))
	pad := `{"Sid":"%s","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`
	doc := func(sid string) string { return policyDoc(fmt.Sprintf(pad, sid), cspmStmt(tpCondition)) }
	long := doc(strings.Repeat("A", 2000-iamrole.PolicySize(doc(""))))
	require.Equal(t, 2000, iamrole.PolicySize(long))
	r.iam.AddRole(t, tpRoleARN, long)

	code, stdout, stderr := r.run("--account", tpAccount, "--apply", "--yes")
	assert.Equal(t, exitFailed, code, stderr)
	assert.Regexp(t, `refused: the trust policy of role `+tpRoleName+` would be 2\d{3} characters \(whitespace not counted\), over this account's IAM quota of 2048 \(ACLSizePerRole`, stdout)
	assert.Contains(t, stdout, "request an increase of that quota (up to 4096) in Service Quotas, then run this again")
	assert.Contains(t, stdout, "nothing changed")
	assert.Empty(t, r.iam.Updates())
	assert.Equal(t, []string{"GetRole", "GetAccountSummary"}, r.iam.Calls())
	assert.Equal(t, long, r.iam.TrustPolicy(t, tpRoleName))
}

func TestTrustPolicyApplyRefusals(t *testing.T) {
	m := startMotoIAM(t, tpAccount)
	for name, tc := range map[string]struct {
		policy string
		want   string
	}{
		`"*" principal`:     {policyDoc(cspmStmt(tpCondition), `{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}`), `any AWS principal ("*")`},
		"missing condition": {policyDoc(cspmStmt("")), "has no sts:ExternalId condition"},
		// moto saves a unique ID where IAM refuses it (MalformedPolicyDocument):
		// the helper must refuse before writing, naming the statement.
		"a deleted role's unique ID": {
			policyDoc(cspmStmt(tpCondition), `{"Sid":"Ops","Effect":"Allow","Principal":{"AWS":"AROADBQP57FF2AEXAMPLE"},"Action":"sts:AssumeRole"}`),
			`statement 2 ("Ops") names AROADBQP57FF2AEXAMPLE, the unique ID IAM shows in place of a deleted IAM role or user`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newTPRig(t, m)
			r.iam.AddRole(t, tpRoleARN, tc.policy)
			code, stdout, stderr := r.run("--account", tpAccount, "--apply", "--yes")
			assert.Equal(t, exitFailed, code, stderr)
			assert.Contains(t, stdout, tc.want)
			assert.Contains(t, stdout, "nothing changed")
			assert.Empty(t, r.iam.Updates())
			assert.Equal(t, tc.policy, r.iam.TrustPolicy(t, tpRoleName))
		})
	}
}

func TestTrustPolicyApplyAsksOnATerminal(t *testing.T) {
	m := startMotoIAM(t, tpAccount)
	for answer, wantCode := range map[string]int{"yes\n": exitOK, "no\n": exitFailed, "": exitFailed} {
		t.Run(strings.TrimSpace(answer), func(t *testing.T) {
			r := newTPRig(t, m)
			r.iam.AddRole(t, tpRoleARN, policyDoc(cspmStmt(tpCondition)))
			confirmInteractive = func() bool { return true }
			in := confirmInput
			confirmInput = strings.NewReader(answer)
			t.Cleanup(func() { confirmInput = in })

			code, stdout, stderr := r.run("--account", tpAccount, "--apply")
			assert.Equal(t, wantCode, code)
			assert.Contains(t, stderr, "Type yes to continue")
			if wantCode == exitOK {
				assert.Len(t, r.iam.Updates(), 1)
			} else {
				assert.Contains(t, stdout, "aborted: nothing changed")
				assert.Empty(t, r.iam.Updates())
			}
		})
	}
}

func TestTrustPolicyAccountRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		account string
		want    string
	}{
		"unknown account":       {"999999999999", "not registered with CrowdStrike CSPM"},
		"confused deputy":       {"666666666666", "belongs to account " + tpAccount + ", not 666666666666"},
		"no usable external ID": {"777777777777", "no external ID"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newTPRig(t, nil)
			code, stdout, stderr := r.run("--account", tc.account, "--check")
			assert.Equal(t, exitFailed, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func TestTrustPolicyRoleInAnotherAccount(t *testing.T) {
	// The local credentials are for another account with a role of that name.
	r := newTPRig(t, startMotoIAM(t, "999999999999"))
	r.iam.AddRole(t, "arn:aws:iam::999999999999:role/"+tpRoleName, policyDoc(cspmStmt(tpCondition)))
	code, _, stderr := r.run("--account", tpAccount, "--apply", "--yes")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, stderr, "use AWS credentials for account "+tpAccount)
	assert.Empty(t, r.iam.Updates())
}

func TestTrustPolicyUsage(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no account":                {nil, "--account is required"},
		"bad account":               {[]string{"--account", "12"}, "12-digit"},
		"bad role name":             {[]string{"--account", tpAccount, "--role-name", "a/b"}, "--role-name"},
		"check and apply":           {[]string{"--account", tpAccount, "--check", "--apply"}, "exclude each other"},
		"yes without apply":         {[]string{"--account", tpAccount, "--yes"}, "--yes only goes with --apply"},
		"apply, not a terminal":     {[]string{"--account", tpAccount, "--apply"}, "add --yes"},
		"stray argument":            {[]string{"--account", tpAccount, "now"}, "unexpected argument"},
		"an external ID is no flag": {[]string{"--account", tpAccount, "--external-id", "x"}, "flag provided but not defined"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newTPRig(t, nil)
			code, stdout, stderr := r.run(tc.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}

	code, _, stderr := (&tpRig{env: map[string]string{}}).run("--account", tpAccount)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "configuration error")
}

// TestTrustPolicyForAnOrganizationMember: CSPM registers an AWS
// Organization with one role name and one external ID for every member;
// the helper prints, checks and applies the policy of a member all the same
// (a shared ID is no refusal).
func TestTrustPolicyForAnOrganizationMember(t *testing.T) {
	const member, other = "333344445555", "444455556666"
	role := func(account string) string { return "arn:aws:iam::" + account + ":role/" + tpRoleName }
	r := newTPRig(t, startMotoIAM(t, member))
	r.sim.AddAccounts(
		falconsim.Account{ID: member, Type: "commercial", RoleARN: role(member), ExternalID: tpExtID, Regions: []string{"us-east-1"}},
		falconsim.Account{ID: other, Type: "commercial", RoleARN: role(other), ExternalID: tpExtID, Regions: []string{"us-east-1"}},
	)
	r.iam.AddRole(t, role(member), policyDoc(cspmStmt(tpCondition)))

	code, stdout, stderr := r.run("--account", member)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, tpExtID)
	code, stdout, stderr = r.run("--account", member, "--check")
	assert.Equal(t, exitFailed, code, stderr)
	assert.Contains(t, stdout, "missing: the registry-assessment principal")
	code, stdout, stderr = r.run("--account", member, "--apply", "--yes")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "updated the trust policy of "+role(member))
	code, _, stderr = r.run("--account", member, "--check")
	assert.Equal(t, exitOK, code, stderr)
	assert.NotContains(t, stdout+stderr, "shared")
}
