package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole/iamfake"
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
	iam *iamfake.Server
	env map[string]string
}

// newTPRig serves the Falcon simulator (one CSPM account, tpAccount) over TLS
// and a fake IAM endpoint the default AWS configuration chain points at.
func newTPRig(t *testing.T) *tpRig {
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

	iam := iamfake.New()
	t.Cleanup(iam.Close)
	iam.Setenv(t)

	interactive := confirmInteractive
	confirmInteractive = func() bool { return false }
	t.Cleanup(func() { confirmInteractive = interactive })

	return &tpRig{sim: sim, iam: iam, env: map[string]string{
		"FALCON_BASE_URL":      srv.URL,
		"FALCON_CLIENT_ID":     demo.ClientID,
		"FALCON_CLIENT_SECRET": demo.ClientSecret,
	}}
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
	r := newTPRig(t) // the fake IAM has no such role: it cannot be read
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
	r := newTPRig(t)
	const eu = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnectorEU"
	r.iam.AddRole(tpRoleARN, policyDoc(`{"Effect":"Allow","Principal":{"AWS":"`+eu+`"},"Action":"sts:AssumeRole",`+tpCondition+`}`))
	code, stdout, stderr := r.run("--account", tpAccount)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, eu)
	assert.NotContains(t, stdout, `"`+tpCSPM+`"`)
	assert.NotContains(t, stderr, "DEFAULT")
	assert.Equal(t, []string{"GetRole"}, r.iam.Calls())
}

func TestTrustPolicyCheck(t *testing.T) {
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
			r := newTPRig(t)
			r.iam.AddRole(tpRoleARN, tc.policy)
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
	r := newTPRig(t)
	other := `{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`
	r.iam.AddRole(tpRoleARN, policyDoc(other, cspmStmt(tpCondition)))

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
	assert.Equal(t, []string{"GetRole", "UpdateAssumeRolePolicy", "GetRole"}, r.iam.Calls())
}

func TestTrustPolicyApplyRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		policy string
		want   string
	}{
		`"*" principal`:     {policyDoc(cspmStmt(tpCondition), `{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}`), `any AWS principal ("*")`},
		"missing condition": {policyDoc(cspmStmt("")), "has no sts:ExternalId condition"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newTPRig(t)
			r.iam.AddRole(tpRoleARN, tc.policy)
			code, stdout, stderr := r.run("--account", tpAccount, "--apply", "--yes")
			assert.Equal(t, exitFailed, code, stderr)
			assert.Contains(t, stdout, tc.want)
			assert.Contains(t, stdout, "nothing changed")
			assert.Empty(t, r.iam.Updates())
			assert.Equal(t, tc.policy, r.iam.TrustPolicy(tpRoleName))
		})
	}
}

func TestTrustPolicyApplyAsksOnATerminal(t *testing.T) {
	for answer, wantCode := range map[string]int{"yes\n": exitOK, "no\n": exitFailed, "": exitFailed} {
		t.Run(strings.TrimSpace(answer), func(t *testing.T) {
			r := newTPRig(t)
			r.iam.AddRole(tpRoleARN, policyDoc(cspmStmt(tpCondition)))
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
			r := newTPRig(t)
			code, stdout, stderr := r.run("--account", tc.account, "--check")
			assert.Equal(t, exitFailed, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
			assert.Empty(t, r.iam.Calls(), "IAM is not touched")
		})
	}
}

func TestTrustPolicyRoleInAnotherAccount(t *testing.T) {
	r := newTPRig(t)
	// The local credentials are for another account with a role of that name.
	r.iam.AddRole("arn:aws:iam::999999999999:role/"+tpRoleName, policyDoc(cspmStmt(tpCondition)))
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
			r := newTPRig(t)
			code, stdout, stderr := r.run(tc.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
			assert.Empty(t, r.iam.Calls())
		})
	}

	code, _, stderr := (&tpRig{env: map[string]string{}}).run("--account", tpAccount)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "configuration error")
}
