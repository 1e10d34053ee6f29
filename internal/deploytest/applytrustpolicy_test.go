package deploytest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

// deploy/apply-trust-policy.sh, run as a person runs it: bash, the AWS CLI and jq, its AWS calls
// going to moto behind a mototest.Front (IAM's quotas enforced as IAM enforces them).

const (
	scriptPath = "../../deploy/apply-trust-policy.sh"
	cspmRole   = "CrowdStrikeCSPMReader-script"
	cspmExtID  = "4f1c0b2e9d8a7c6b5a4f3e2d1c0b9a88"
	connector  = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	cspmTrust  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + connector + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + cspmExtID + `"}}}]}`
)

// scriptAccount is moto playing the account that owns the CSPM role.
type scriptAccount struct {
	t   *testing.T
	iam *iam.Client
	env []string
}

func newScriptAccount(t *testing.T) *scriptAccount {
	t.Helper()
	t.Parallel()
	for _, tool := range []string{"bash", "aws", "jq", "diff"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: deploy/apply-trust-policy.sh is not run", tool)
		}
	}
	front := mototest.Start(t).Front(t)
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	env := append(front.Env(), "PATH="+os.Getenv("PATH"), "HOME="+t.TempDir(), "AWS_CONFIG_FILE="+empty, "AWS_SHARED_CREDENTIALS_FILE="+empty, "AWS_PAGER=", "AWS_DEFAULT_REGION="+mototest.Region) // AWS CLI v1 reads only this
	return &scriptAccount{t: t, iam: iam.NewFromConfig(front.Config()), env: env}
}

func (a *scriptAccount) role(name, trust string) string {
	a.t.Helper()
	out, err := a.iam.CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
	require.NoError(a.t, err)
	return aws.ToString(out.Role.Arn)
}

func (a *scriptAccount) trust(name string) string {
	a.t.Helper()
	out, err := a.iam.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(name)})
	require.NoError(a.t, err)
	doc, err := iamrole.DecodePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument))
	require.NoError(a.t, err)
	return doc
}

// run runs the script; code is its exit status.
func (a *scriptAccount) run(args ...string) (code int, stdout, stderr string) {
	a.t.Helper()
	cmd := exec.Command("bash", append([]string{scriptPath}, args...)...)
	cmd.Env = a.env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	require.NoError(a.t, err)
	return 0, out.String(), errb.String()
}

// TestApplyTrustPolicyRefusesAMadeUpExternalID: the external ID only ever comes from CSPM's record
// or the role itself. One the role's CSPM statement does not require — made up, or another
// vendor's that the role holds for someone else — is refused, nothing planned or written,
// whatever the flags (there is no flag to bypass it). The role's own ID goes through.
func TestApplyTrustPolicyRefusesAMadeUpExternalID(t *testing.T) {
	a := newScriptAccount(t)
	vendor := `{"Sid":"Vendor","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"vendor-id-1234"}}}`
	trust := strings.Replace(cspmTrust, `"Statement":[`, `"Statement":[`+vendor+`,`, 1)
	arn := a.role(cspmRole, trust)

	for id, flagSets := range map[string][][]string{
		"made-up-0000000000000000": {nil, {"--apply"}, {"--force"}, {"--apply", "--force"}, {"--force", "--apply", "--govcloud"}},
		"vendor-id-1234":           {{"--apply"}},
	} {
		for _, flags := range flagSets {
			code, stdout, stderr := a.run(append([]string{"--role", arn, "--external-id", id}, flags...)...)
			assert.NotZero(t, code, "%s %v", id, flags)
			assert.NotContains(t, stdout, "trust policy updated", "%s %v", id, flags)
			assert.NotContains(t, stdout, "(proposed)", "%s %v: nothing planned", id, flags)
			if strings.Contains(strings.Join(flags, " "), "--force") {
				assert.Contains(t, stderr, "unknown argument: --force", "%v", flags)
			} else {
				assert.Contains(t, stderr, "the external ID given is not the one "+cspmRole+"'s CSPM statement requires", "%s %v", id, flags)
			}
			assert.Equal(t, trust, a.trust(cspmRole), "%s %v: unchanged", id, flags)
		}
	}

	code, stdout, stderr := a.run("--role", arn, "--external-id", cspmExtID)
	require.Zero(t, code, stderr)
	assert.Contains(t, stdout, "Dry run: nothing changed")
	assert.Equal(t, trust, a.trust(cspmRole))
	code, stdout, stderr = a.run("--role", arn, "--external-id", cspmExtID, "--apply")
	require.Zero(t, code, stderr)
	assert.Contains(t, stdout, cspmRole+": trust policy updated.")
	assert.Contains(t, a.trust(cspmRole), `"Sid": "CrowdStrikeRegistryAssessment"`)
}

// TestApplyTrustPolicyKnowsIAMsQuota: a trust policy of 2,000 characters cannot take the
// registry-assessment statement within IAM's quota of 2,048 (whitespace not counted): refused
// before writing, naming the quota and the remedy, not with IAM's raw LimitExceeded.
func TestApplyTrustPolicyKnowsIAMsQuota(t *testing.T) {
	a := newScriptAccount(t)
	pad := `{"Sid":"%s","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},`
	doc := func(sid string) string {
		return strings.Replace(cspmTrust, `"Statement":[`, `"Statement":[`+fmt.Sprintf(pad, sid), 1)
	}
	long := doc(strings.Repeat("A", 2000-iamrole.PolicySize(doc(""))))
	require.Equal(t, 2000, iamrole.PolicySize(long))
	a.role(cspmRole, long)

	code, stdout, stderr := a.run("--role", cspmRole, "--external-id", cspmExtID, "--apply")
	assert.Equal(t, 2, code, stdout)
	assert.Regexp(t, `the trust policy of role `+cspmRole+` would be 2\d{3} characters \(whitespace not counted\), over this account's IAM quota of 2048 \(ACLSizePerRole`, stderr)
	assert.Contains(t, stderr, "request an increase of that quota (up to 4096) in Service Quotas")
	assert.NotContains(t, stderr, "LimitExceeded")
	assert.Equal(t, long, a.trust(cspmRole))
}
