package deploytest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

// The organisation-setup commands the docs give (README "Organisation setup" and "Keeping the
// CSPM roles prepared", deploy/README.md, REMOVAL_GUIDE.md).

var userDocs = []string{"../../README.md", "../../deploy/README.md", "../../REMOVAL_GUIDE.md", "../../EXTERNAL_ID_FLOW.md"}

// stackSetOperation starts every StackSet command that deploys to, updates or deletes stack
// instances: without operation preferences CloudFormation does one account at a time and stops
// at the first failure (FailureToleranceCount 0, MaxConcurrentCount 1; CloudFormation API
// Reference, StackSetOperationPreferences).
var stackSetOperation = regexp.MustCompile(`aws cloudformation (create-stack-instances|update-stack-instances|update-stack-set|delete-stack-instances|import-stacks-to-stack-set)\b`)

// commands are the docs' shell commands starting with pattern: from there to the end of the
// command (a line not continued with "\", or the closing backtick of inline code).
func commands(text string, pattern *regexp.Regexp) []string {
	var out []string
	for _, loc := range pattern.FindAllStringIndex(text, -1) {
		rest := text[loc[0]:]
		end := len(rest)
		for i := 0; i < len(rest); i++ {
			if rest[i] == '`' || (rest[i] == '\n' && (i == 0 || rest[i-1] != '\\') && !inlineContinues(text, loc[0])) {
				end = i
				break
			}
		}
		out = append(out, rest[:end])
	}
	return out
}

// inlineContinues reports whether the command at i is inline code (a backtick right before it),
// which may wrap over lines until its closing backtick.
func inlineContinues(text string, i int) bool { return i > 0 && text[i-1] == '`' }

// operationProblems says what a StackSet command lacks: operation preferences under which one
// account's failure stops no other account, and accounts are worked on more than one at a time.
func operationProblems(cmd string) []string {
	m := regexp.MustCompile(`--operation-preferences\s+(\S+)`).FindStringSubmatch(cmd)
	if m == nil {
		return []string{"no --operation-preferences: one account at a time, stopping at the first failure"}
	}
	prefs := map[string]string{}
	for _, kv := range strings.Split(m[1], ",") {
		k, v, _ := strings.Cut(kv, "=")
		prefs[k] = v
	}
	var problems []string
	tolerance, _ := strconv.Atoi(prefs["FailureTolerancePercentage"] + prefs["FailureToleranceCount"])
	if tolerance <= 0 {
		problems = append(problems, "no failure tolerance: the first refused account stops the rest")
	}
	concurrent, _ := strconv.Atoi(prefs["MaxConcurrentPercentage"] + prefs["MaxConcurrentCount"])
	if concurrent <= 1 && prefs["MaxConcurrentPercentage"] == "" {
		problems = append(problems, "one account at a time")
	}
	if prefs["ConcurrencyMode"] != "SOFT_FAILURE_TOLERANCE" {
		problems = append(problems, "ConcurrencyMode is not SOFT_FAILURE_TOLERANCE: failures lower the concurrency (STRICT_FAILURE_TOLERANCE starts at FailureTolerance+1)")
	}
	if prefs["RegionConcurrencyType"] == "" {
		problems = append(problems, "no RegionConcurrencyType")
	}
	return problems
}

// bucketPolicyProblems: a command that writes a bucket policy replaces the whole policy; the docs
// only ever add their statement through deploy/member/org-read-policy.sh, which merges.
func bucketPolicyProblems(text string) []string {
	var out []string
	for _, c := range commands(text, regexp.MustCompile(`aws s3api (put-bucket-policy|delete-bucket-policy)\b`)) {
		out = append(out, "overwrites the bucket's policy: "+c)
	}
	return out
}

func TestDocsStackSetCommandsTolerateFailures(t *testing.T) {
	found := 0
	for _, path := range userDocs {
		text := mustRead(t, path)
		for _, c := range commands(text, stackSetOperation) {
			found++
			assert.Empty(t, operationProblems(c), "%s:\n%s", path, c)
		}
		assert.Empty(t, bucketPolicyProblems(text), path)
	}
	assert.GreaterOrEqual(t, found, 4, "create-stack-instances, two update-stack-set, delete-stack-instances")
}

// TestDocsChecksCanFail: the checks above trip on the commands they exist for.
func TestDocsChecksCanFail(t *testing.T) {
	bare := "Then run:\n\n```sh\naws cloudformation update-stack-set --stack-set-name ecr-onboard-member \\\n  --use-previous-template\nnext\n```\n"
	cs := commands(bare, stackSetOperation)
	require.Len(t, cs, 1)
	assert.Equal(t, "aws cloudformation update-stack-set --stack-set-name ecr-onboard-member \\\n  --use-previous-template", cs[0])
	assert.Equal(t, []string{"no --operation-preferences: one account at a time, stopping at the first failure"}, operationProblems(cs[0]))

	inline := "**Taking it away**: `aws cloudformation delete-stack-instances --stack-set-name x\n--regions us-east-1 --operation-preferences RegionConcurrencyType=PARALLEL,MaxConcurrentPercentage=25,FailureTolerancePercentage=0` then"
	cs = commands(inline, stackSetOperation)
	require.Len(t, cs, 1)
	assert.Equal(t, []string{"no failure tolerance: the first refused account stops the rest",
		"ConcurrencyMode is not SOFT_FAILURE_TOLERANCE: failures lower the concurrency (STRICT_FAILURE_TOLERANCE starts at FailureTolerance+1)"}, operationProblems(cs[0]))
	assert.Empty(t, operationProblems("aws cloudformation create-stack-instances --operation-preferences RegionConcurrencyType=PARALLEL,ConcurrencyMode=SOFT_FAILURE_TOLERANCE,MaxConcurrentPercentage=100,FailureTolerancePercentage=100"))
	assert.Equal(t, []string{"one account at a time"},
		operationProblems("aws cloudformation create-stack-instances --operation-preferences RegionConcurrencyType=PARALLEL,ConcurrencyMode=SOFT_FAILURE_TOLERANCE,MaxConcurrentCount=1,FailureToleranceCount=3"))

	assert.Len(t, bucketPolicyProblems("```sh\naws s3api put-bucket-policy --bucket \"$BUCKET\" --policy '{}'\n```"), 1)
}

// TestOrgReadPolicyMerges: deploy/member/org-read-policy.sh (package.sh --org-id) adds its one
// statement to the artifact bucket's policy, keeping the owner's statements; run again, it
// refreshes that statement rather than adding a second; --remove takes it out and nothing else.
// The AWS CLI and jq against moto's S3.
func TestOrgReadPolicyMerges(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "aws", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: deploy/member/org-read-policy.sh is not run", tool)
		}
	}
	srv := mototest.Start(t)
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	env := append(srv.Env(), "PATH="+os.Getenv("PATH"), "HOME="+t.TempDir(), "AWS_CONFIG_FILE="+empty, "AWS_SHARED_CREDENTIALS_FILE="+empty,
		"AWS_PAGER=", "AWS_DEFAULT_REGION="+mototest.Region)
	exe := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exe("bash", append([]string{"../../deploy/member/org-read-policy.sh"}, args...)...)
		require.NoError(t, err, "%s", out)
		return out
	}
	type statement struct {
		Sid, Effect, Action, Resource string
		Principal                     any
		Condition                     map[string]map[string]string
	}
	policy := func(bucket string) []statement {
		t.Helper()
		out, err := exe("aws", "s3api", "get-bucket-policy", "--bucket", bucket, "--query", "Policy", "--output", "text")
		if err != nil {
			require.Contains(t, out, "NoSuchBucketPolicy")
			return nil
		}
		var p struct{ Statement []statement }
		require.NoError(t, json.Unmarshal([]byte(out), &p), out)
		return p.Statement
	}
	theirs := statement{Sid: "TheirAuditor", Effect: "Allow", Principal: map[string]any{"AWS": "arn:aws:iam::111122223333:root"}, Action: "s3:ListBucket", Resource: "arn:aws:s3:::artifacts"}
	ours := statement{Sid: "EcrOnboardOrgReadsMemberSetup", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::artifacts/ecr-onboard/*",
		Condition: map[string]map[string]string{"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}
	for _, b := range []string{"artifacts", "bare"} {
		out, err := exe("aws", "s3api", "create-bucket", "--bucket", b)
		require.NoError(t, err, out)
	}
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{theirs}})
	out, err := exe("aws", "s3api", "put-bucket-policy", "--bucket", "artifacts", "--policy", string(doc)) // the owner's own policy
	require.NoError(t, err, out)

	assert.Contains(t, run("--bucket", "artifacts", "--org-id", "o-0000000000"), "other statements kept")
	run("--bucket", "artifacts", "--org-id", "o-a1b2c3d4e5") // the organisation's ID corrected: refreshed, not added
	assert.Equal(t, []statement{theirs, ours}, policy("artifacts"))
	run("--bucket", "artifacts", "--remove")
	assert.Equal(t, []statement{theirs}, policy("artifacts"))

	run("--bucket", "bare", "--org-id", "o-a1b2c3d4e5", "--key", "member.zip")
	bare := ours
	bare.Resource = "arn:aws:s3:::bare/member.zip"
	assert.Equal(t, []statement{bare}, policy("bare"))
	run("--bucket", "bare", "--remove")
	assert.Nil(t, policy("bare"), "the policy held only its statement: gone")
}
