package main

// The function as Lambda runs it: the bootstrap, built as package.sh builds
// it, under AWS's Lambda Runtime Interface Emulator (internal/rietest), its
// AWS calls going to moto (internal/mototest), CloudFormation's ResponseURL
// a loopback receiver.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/rietest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	rietest.Remove()
	os.Exit(code)
}

const (
	connector  = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	registry   = "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
	extID      = "4f1c0b2e9d8a7c6b5a4f3e2d1c0b9a88"
	cspmPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + connector + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`
	stackID    = "arn:aws:cloudformation:us-east-1:" + mototest.AccountID + ":stack/StackSet-ecr-onboard-member-e2e/5f0e8a70-0000-0000-0000-000000000009"
)

var runtimeErrorLine = regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \{"errorMessage":`)

// TestUnderEmulator is the organisation's new account, end to end: the
// member stack's Create runs before CSPM's role exists and succeeds,
// waiting; CrowdStrike's StackSet creates the role; the next scheduled
// invocation prepares it; the IAM event of that write changes nothing; a
// CSPM stack update's rewrite is prepared again on its IAM event, once; a
// role opened to "*" fails the invocation (the function's Errors metric),
// nothing written; the stack's Delete removes exactly what was added.
func TestUnderEmulator(t *testing.T) {
	rietest.Binary(t) // skips before building anything when the emulator is unavailable
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	moto := mototest.Start(t, "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
	admin := iam.NewFromConfig(moto.Config())
	ctx := context.Background()
	var mu sync.Mutex
	var answers []cfn.Response
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var resp cfn.Response
		body, _ := io.ReadAll(req.Body)
		assert.NoError(t, json.Unmarshal(body, &resp))
		mu.Lock()
		answers = append(answers, resp)
		mu.Unlock()
	}))
	defer rcv.Close()
	fn := rietest.Start(t, rietest.Options{Bootstrap: bootstrap, Env: append(moto.Env(),
		"AWS_LAMBDA_FUNCTION_NAME=ecr-onboard-member-setup", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"STACK_ID="+stackID, "CSPM_ROLE_NAME=")})

	request := func(typ cfn.RequestType, physicalID string) cfn.Response {
		t.Helper()
		payload, _ := json.Marshal(cfn.Event{RequestType: typ, RequestID: "req-" + string(typ), ResponseURL: rcv.URL, StackID: stackID,
			LogicalResourceID: "CspmRolePreparation", PhysicalResourceID: physicalID, ResourceType: "Custom::EcrOnboardCspmRole",
			ResourceProperties: map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:" + mototest.AccountID + ":function:x", "CspmRoleName": "", "Revision": "1", "RepairIntervalMinutes": "5"}})
		mu.Lock()
		before := len(answers)
		mu.Unlock()
		r := fn.Invoke(t, "invoke-"+string(typ), payload)
		require.False(t, r.Failed(), "%s: %s", typ, r.ErrorMessage)
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, answers, before+1)
		return answers[before]
	}
	type repaired struct {
		Status              string `json:"status"`
		TrustPolicyUpdated  bool   `json:"trust_policy_updated"`
		EcrReadOnlyAttached bool   `json:"ecr_read_only_attached"`
	}
	invoke := func(id, event string) (repaired, rietest.Result) {
		t.Helper()
		r := fn.Invoke(t, id, []byte(event))
		var got repaired
		if !r.Failed() {
			require.NoError(t, json.Unmarshal(r.Body, &got), "%s", r.Body)
		}
		return got, r
	}
	schedule := `{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","account":"` + mototest.AccountID + `","region":"us-east-1","resources":[],"detail":{}}`
	iamEvent := `{"version":"0","id":"2","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"` + mototest.AccountID + `","region":"us-east-1","detail":{"eventSource":"iam.amazonaws.com","eventName":"UpdateAssumeRolePolicy","requestParameters":{"roleName":"CrowdStrikeCSPMReader-e2e"}}}`
	trustPolicy := func() string {
		out, err := admin.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("CrowdStrikeCSPMReader-e2e")})
		require.NoError(t, err)
		doc, err := iamrole.DecodePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument))
		require.NoError(t, err)
		return doc
	}
	setTrust := func(doc string) {
		_, err := admin.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("CrowdStrikeCSPMReader-e2e"), PolicyDocument: aws.String(doc)})
		require.NoError(t, err)
	}

	created := request(cfn.RequestCreate, "")
	require.Equal(t, cfn.StatusSuccess, created.Status, created.Reason)
	assert.Equal(t, "waiting", created.Data["Status"])

	_, err = admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("CrowdStrikeCSPMReader-e2e"), AssumeRolePolicyDocument: aws.String(cspmPolicy)})
	require.NoError(t, err)
	got, _ := invoke("schedule-1", schedule)
	assert.Equal(t, repaired{"prepared", true, true}, got)
	assert.Contains(t, trustPolicy(), registry)
	got, _ = invoke("own-write-event", iamEvent)
	assert.Equal(t, repaired{"prepared", false, false}, got, "its own write's event changes nothing")

	setTrust(cspmPolicy) // a CSPM stack update
	got, _ = invoke("rewrite-event", iamEvent)
	assert.Equal(t, repaired{"prepared", true, false}, got)
	got, _ = invoke("schedule-2", schedule)
	assert.Equal(t, repaired{"prepared", false, false}, got, "once")

	open := strings.Replace(cspmPolicy, `"Statement":[`, `"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"},`, 1)
	setTrust(open)
	_, r := invoke("refused", schedule)
	require.True(t, r.Failed(), "a refusal fails the invocation")
	assert.Contains(t, r.ErrorMessage, `statement 1 lets any AWS principal ("*") assume the role`)
	assert.Equal(t, open, trustPolicy(), "nothing written")
	setTrust(cspmPolicy)

	deleted := request(cfn.RequestDelete, created.PhysicalResourceID)
	require.Equal(t, cfn.StatusSuccess, deleted.Status, deleted.Reason)
	assert.JSONEq(t, cspmPolicy, trustPolicy())
	attached, err := admin.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("CrowdStrikeCSPMReader-e2e")})
	require.NoError(t, err)
	assert.Empty(t, attached.AttachedPolicies)
	got, _ = invoke("after-delete", schedule)
	assert.Equal(t, "idle", got.Status)

	// Every line it logged: JSON, one value per key, no external ID.
	o := fn.Stop()
	var lines []string
	for _, l := range o.FunctionLines() {
		if !runtimeErrorLine.MatchString(l) {
			lines = append(lines, l)
		}
	}
	require.NotEmpty(t, lines)
	assert.Empty(t, jsonlog.CheckLines(strings.Join(lines, "\n")))
	assert.NotContains(t, o.Stdout, extID)
	for _, a := range answers {
		b, _ := json.Marshal(a)
		assert.NotContains(t, string(b), extID)
	}
}
