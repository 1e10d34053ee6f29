package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/rietest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

const (
	stackID   = "arn:aws:cloudformation:us-east-1:123456789012:stack/ecr-onboard-e2e/5b8c2a10-6f1e-11f0-9c2e-0a1b2c3d4e5f"
	logicalID = "InitialReconcile"
	scheduled = `{"version":"0","id":"e2e","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012",` +
		`"time":"2026-01-01T06:00:00Z","region":"us-east-1","resources":[],"detail":{}}`
)

// Demo accounts in scope (555555555555, whose role does not trust the
// registry-assessment principal, is excluded: every run would try it again).
const (
	demoCreated   = 12 // 15 desired, 3 already onboarded
	demoUnchanged = 3
	demoSkipped   = 5 // confused deputy, no external ID, no region, CSPM onboarding unfinished, aws-cn
)

// The real bootstrap as Lambda runs it: under AWS's Runtime Interface
// Emulator, configured only through its environment, its AWS calls answered
// by moto, the Falcon API the simulator over TLS.
func TestBootstrapUnderEmulator(t *testing.T) {
	d := deploy(t, nil, "LOG_LEVEL=debug", "EXCLUDE_ACCOUNT_IDS=555555555555")
	secrets := secretsOf(t)
	fn := d.start(t, 2*time.Minute)
	sim := d.sim
	var answers []string // every answer's body, for the secrets check

	invoke := func(id, payload string) rietest.Result {
		t.Helper()
		r := fn.Invoke(t, id, []byte(payload))
		require.Equal(t, 200, r.Status, "%s: %s", id, r.Body)
		answers = append(answers, string(r.Body))
		return r
	}
	report := func(r rietest.Result) onboard.Report {
		t.Helper()
		require.False(t, r.Failed(), "function error %s: %s", r.ErrorType, r.ErrorMessage)
		var rep onboard.Report
		require.NoError(t, json.Unmarshal(r.Body, &rep), "%s", r.Body)
		require.NotEmpty(t, rep.RunID, "not a report: %s", r.Body)
		return rep
	}
	refusedIDs := map[string]string{} // request ID -> errorType
	refused := func(id, payload, wantType, wantText string) rietest.Result {
		t.Helper()
		before := sim.Stats().Requests
		r := invoke(id, payload)
		require.True(t, r.Failed(), "%s answered: %s", id, r.Body)
		assert.Equal(t, wantType, r.ErrorType, "%s: %s", id, r.ErrorMessage)
		assert.Contains(t, r.ErrorMessage, wantText, id)
		assert.Equal(t, before, sim.Stats().Requests, "%s: no Falcon API call at all", id)
		refusedIDs[id] = wantType
		return r
	}

	// 1. Garbage: an error naming the class, and no API call. The first of
	// these is the cold start: it calls no Falcon API either (the base URL
	// is given; the token is fetched on first use).
	r := refused("garbage-text", `not json at all`, "UnsupportedEvent", "not JSON")
	t.Logf("cold start: %v from the emulator's start to the first answer", r.At.Sub(fn.Started))
	refused("garbage-object", `{"hello":"world"}`, "UnsupportedEvent", `unknown field "hello"`)
	refused("garbage-s3", `{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"}}}]}`, "UnsupportedEvent", "S3 records")
	refused("external-id", `{"dry_run":true,"external_id":"abc"}`, "InvalidRequest", `"external_id" is refused`)
	require.Zero(t, sim.Stats().Requests)

	// 2. A manual dry run plans and writes nothing.
	rep := report(invoke("manual-dry-run", `{"dry_run":true}`))
	assert.Equal(t, onboard.TriggerManual, rep.Trigger)
	assert.True(t, rep.DryRun)
	assert.Len(t, rep.Registries.Created, demoCreated, "what would be created")
	assert.Len(t, rep.Accounts.Skipped, demoSkipped)
	assert.Equal(t, mototest.AccountID, rep.HomeAccount, "the cold start asked STS (moto) for the function's account")
	assert.Equal(t, "aws", rep.Partition)
	assert.Zero(t, sim.Stats().Writes())
	assert.Len(t, sim.Registries(), demoUnchanged)

	// 3. The scheduled event onboards; the second time there is nothing to write.
	rep = report(invoke("schedule-1", scheduled))
	assert.Equal(t, onboard.TriggerSchedule, rep.Trigger)
	assert.True(t, rep.Complete)
	assert.Len(t, rep.Registries.Created, demoCreated)
	assert.Empty(t, rep.Registries.Failed)
	assert.Len(t, sim.Registries(), demoCreated+demoUnchanged)
	assert.Equal(t, demoCreated, sim.Stats().Writes())
	writes := sim.Stats().Writes()

	rep = report(invoke("schedule-2", scheduled))
	assert.Empty(t, rep.Registries.Created)
	assert.Equal(t, demoCreated+demoUnchanged, rep.Registries.Unchanged)
	assert.Equal(t, writes, sim.Stats().Writes(), "the second scheduled run writes nothing")

	// 4. CloudFormation Create and Delete: exactly one response each, under
	// 4 KB, for the right request, with one stable physical ID.
	physicalID := trigger.PhysicalResourceID(stackID, logicalID)
	create := cfnEvent(t, d.cfn.URL, cfn.RequestCreate, "cfn-create-1", "")
	rep = report(invoke("cfn-create", create))
	assert.Equal(t, onboard.TriggerCloudFormation, rep.Trigger)
	put := onlyNewPut(t, d.cfn, 0)
	assert.Equal(t, cfn.StatusSuccess, put.Status, put.Reason)
	assert.Equal(t, "cfn-create-1", put.RequestID)
	assert.Equal(t, "0", put.Data["Created"], "everything was onboarded already")
	assert.Equal(t, physicalID, put.PhysicalResourceID)

	del := cfnEvent(t, d.cfn.URL, cfn.RequestDelete, "cfn-delete-1", put.PhysicalResourceID)
	report(invoke("cfn-delete", del))
	put = onlyNewPut(t, d.cfn, 1)
	assert.Equal(t, cfn.StatusSuccess, put.Status, put.Reason)
	assert.Equal(t, "cfn-delete-1", put.RequestID)
	assert.Equal(t, physicalID, put.PhysicalResourceID, "Delete answers with the resource's stable ID")
	assert.Contains(t, put.Reason, "DISCONNECT_ON_DELETE is false")
	assert.Equal(t, writes, sim.Stats().Writes())
	assert.Len(t, sim.Registries(), demoCreated+demoUnchanged, "registries stay in Falcon")

	// 5. SQS: a message from another queue is refused; one from the
	// function's own continuation queue continues a run.
	refused("sqs-foreign", sqsEvent(t, "arn:aws:sqs:us-east-1:111111111111:someone-elses-queue", `{"run_id":"x","depth":1}`),
		"UnsupportedEvent", "only this function's continuation queue is accepted")
	rep = report(invoke("sqs-own", sqsEvent(t, queueARN, `{"run_id":"e2e-chain","depth":1}`)))
	assert.Equal(t, onboard.TriggerContinuation, rep.Trigger)
	assert.Equal(t, "e2e-chain", rep.Continues)
	assert.Equal(t, writes, sim.Stats().Writes())

	// 6. Fatal runs name their class.
	sim.InjectFault(falconsim.Fault{Method: "GET", Path: "/container-security/queries/registries/v1", Status: 500, Times: 10})
	r = invoke("listing-fails", scheduled)
	assert.Equal(t, "ListingFailed", r.ErrorType, r.ErrorMessage)
	sim.ClearFaults()
	sim.InjectFault(falconsim.Fault{Method: "GET", Path: "/cloud-security-registration-aws/queries/account/v1", Status: 403})
	r = invoke("access-denied", scheduled)
	assert.Equal(t, "AccessDenied", r.ErrorType, r.ErrorMessage)
	assert.Contains(t, r.ErrorMessage, "Falcon Container Image")
	assert.Equal(t, writes, sim.Stats().Writes())

	// The output: JSON lines with run_id (and the request ID) for every
	// invocation, one EMF line per run, one "invocation refused" line per
	// refusal, and not one secret.
	out := fn.Stop()
	logs := checkOutput(t, out)
	var emf int
	refusals := map[string]int{}
	for _, l := range logs {
		if _, ok := l["_aws"]; ok {
			emf++
			assert.Equal(t, functionName, l["FunctionName"])
			continue
		}
		if l["msg"] == "invocation refused" {
			id, _ := l["aws_request_id"].(string)
			refusals[id]++
			assert.Equal(t, refusedIDs[id], l["error_type"], "%v", l)
			assert.NotEmpty(t, l["reason"], "%v", l)
		}
	}
	assert.Equal(t, 7, emf, "one per run: dry run, 2 schedules, CloudFormation Create, continuation, 2 fatal runs")
	for id := range refusedIDs {
		assert.Equal(t, 1, refusals[id], "one refusal line for %s", id)
	}
	for _, s := range secrets {
		for _, where := range []string{out.Stdout, out.Stderr, strings.Join(answers, "\n")} {
			assert.NotContains(t, where, s, "a secret in the function's output")
		}
		for _, p := range d.cfn.received() {
			assert.NotContains(t, p.Body, s, "a secret in a CloudFormation response")
		}
	}
}

// Only this stack's own custom resource is obeyed. With
// DISCONNECT_ON_DELETE=true, the sample Delete (deploy/events/cfn-delete.json,
// a sample stack's request) pasted into the deployed function is refused:
// errorType ForeignCustomResource, no Falcon API call, nothing PUT (its
// ResponseURL is pointed at the receiver here, so a PUT would be seen). A
// Delete of the stack's own resource under another physical ID is answered
// and disconnects nothing; only its own physical ID disconnects.
func TestBootstrapObeysOnlyItsOwnCustomResourceUnderEmulator(t *testing.T) {
	d := deploy(t, nil, "DISCONNECT_ON_DELETE=true", "EXCLUDE_ACCOUNT_IDS=555555555555")
	fn := d.start(t, time.Minute)
	r := fn.Invoke(t, "schedule", []byte(scheduled))
	require.False(t, r.Failed(), r.ErrorMessage)
	require.Len(t, d.sim.Registries(), demoCreated+demoUnchanged)
	requests := d.sim.Stats().Requests

	raw, err := os.ReadFile("../../deploy/events/cfn-delete.json")
	require.NoError(t, err)
	var sample map[string]any
	require.NoError(t, json.Unmarshal(raw, &sample))
	sample["ResponseURL"] = d.cfn.URL + "/cfn-response?X-Amz-Signature=pasted"
	pasted, err := json.Marshal(sample)
	require.NoError(t, err)
	r = fn.Invoke(t, "pasted-sample-delete", pasted)
	assert.Equal(t, "ForeignCustomResource", r.ErrorType, r.ErrorMessage)
	assert.Contains(t, r.ErrorMessage, "this function answers only its own stack's custom resource (InitialReconcile of "+stackID+")")
	assert.Empty(t, d.cfn.received(), "nothing PUT")
	assert.Equal(t, requests, d.sim.Stats().Requests, "no Falcon API call")
	assert.Len(t, d.sim.Registries(), demoCreated+demoUnchanged, "nothing disconnected")

	r = fn.Invoke(t, "delete-other-id", []byte(cfnEvent(t, d.cfn.URL, cfn.RequestDelete, "cfn-delete-1", "InitialReconcile-1A2B3C4D5E6F")))
	assert.False(t, r.Failed(), r.ErrorMessage)
	put := onlyNewPut(t, d.cfn, 0)
	assert.Equal(t, cfn.StatusSuccess, put.Status)
	assert.Contains(t, put.Reason, "nothing disconnected")
	assert.Len(t, d.sim.Registries(), demoCreated+demoUnchanged)

	r = fn.Invoke(t, "delete-own-id", []byte(cfnEvent(t, d.cfn.URL, cfn.RequestDelete, "cfn-delete-2", trigger.PhysicalResourceID(stackID, logicalID))))
	assert.False(t, r.Failed(), r.ErrorMessage)
	put = onlyNewPut(t, d.cfn, 1)
	assert.Equal(t, cfn.StatusSuccess, put.Status, put.Reason)
	assert.Equal(t, strconv.Itoa(demoCreated), put.Data["Deleted"])
	assert.Equal(t, demoUnchanged, ecrOnboardPrefixOnly(t, d.sim), "the stack's own Delete disconnects what it owns; the demo's three of the prefix \"ecr-onboard\" are another deployment's")
	checkOutput(t, fn.Stop())
}

// A stack Delete with DISCONNECT_ON_DELETE marks the stack's table in moto's
// DynamoDB before it disconnects, and from then on the real bootstrap runs
// nothing: a scheduled event (one the schedule sent before CloudFormation
// deleted it), a manual run and a continuation link each answer why, call
// no Falcon API and re-create nothing.
func TestBootstrapHoldsEveryRunOnceTheStackIsDisconnectingUnderEmulator(t *testing.T) {
	d := deploy(t, nil, "DISCONNECT_ON_DELETE=true", "EXCLUDE_ACCOUNT_IDS=555555555555")
	fn := d.start(t, time.Minute)
	r := fn.Invoke(t, "schedule", []byte(scheduled))
	require.False(t, r.Failed(), r.ErrorMessage)
	require.Len(t, d.sim.Registries(), demoCreated+demoUnchanged)

	r = fn.Invoke(t, "delete", []byte(cfnEvent(t, d.cfn.URL, cfn.RequestDelete, "cfn-delete-1", trigger.PhysicalResourceID(stackID, logicalID))))
	require.False(t, r.Failed(), r.ErrorMessage)
	put := onlyNewPut(t, d.cfn, 0)
	require.Equal(t, cfn.StatusSuccess, put.Status, put.Reason)
	assert.Equal(t, demoUnchanged, ecrOnboardPrefixOnly(t, d.sim), "disconnected")
	mark, err := dynamodb.NewFromConfig(d.moto.Config()).GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(linksTable), ConsistentRead: aws.Bool(true),
		Key: map[string]dbtypes.AttributeValue{"link": &dbtypes.AttributeValueMemberS{Value: "disconnecting"}}})
	require.NoError(t, err)
	assert.NotEmpty(t, mark.Item, "the Delete marked the table")

	requests := d.sim.Stats().Requests
	for id, payload := range map[string]string{
		"late-schedule": scheduled,
		"manual":        `{}`,
		"link":          sqsEvent(t, queueARN, `{"run_id":"e2e-chain","depth":1}`),
	} {
		r := fn.Invoke(t, id, []byte(payload))
		require.False(t, r.Failed(), "%s: %s", id, r.ErrorMessage)
		var rep onboard.Report
		require.NoError(t, json.Unmarshal(r.Body, &rep))
		assert.Equal(t, trigger.ErrDisconnecting.Error(), rep.Deferred, id)
	}
	assert.Equal(t, requests, d.sim.Stats().Requests, "no Falcon API call")
	assert.Equal(t, demoUnchanged, ecrOnboardPrefixOnly(t, d.sim), "nothing re-created")
	checkOutput(t, fn.Stop())
}

// A continuation link SQS delivers more than once — the same message again
// (visible again, or a duplicate), and twice in one batch — runs and
// continues once: the real bootstrap claims the link in moto's DynamoDB and
// sends its one successor to moto's SQS. Every invocation could write one
// registration and leave the rest (answered 429 an hour away, past its
// deadline) for a continuation.
func TestBootstrapContinuationDeliveredTwiceUnderEmulator(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(10, []string{"us-east-1"})...)
	d := deploy(t, sim, "MAX_CONCURRENCY=1")
	fn := d.start(t, time.Minute)
	invoke := func(id string, payload []byte) rietest.Result {
		sim.ClearFaults()
		sim.InjectFault(falconsim.Fault{Method: "POST", Path: "/container-security/entities/registries/v1", Status: 429,
			Skip: 1, Times: 1000, RetryAfter: time.Hour})
		return fn.Invoke(t, id, payload)
	}
	link := sqsEvent(t, queueARN, `{"run_id":"e2e-chain","depth":1}`)

	r := invoke("link-1", []byte(link))
	require.False(t, r.Failed(), "%s: %s", r.ErrorType, r.ErrorMessage)
	var rep onboard.Report
	require.NoError(t, json.Unmarshal(r.Body, &rep))
	assert.Equal(t, "e2e-chain", rep.Continues)
	assert.Len(t, rep.Registries.Created, 1)
	assert.False(t, rep.Complete)
	requests := sim.Stats().Requests

	r = invoke("link-1-again", []byte(link))
	assert.False(t, r.Failed(), "a duplicate is answered (SQS deletes it): %s", r.ErrorMessage)
	var batch events.SQSEvent
	require.NoError(t, json.Unmarshal([]byte(link), &batch))
	batch.Records = append(batch.Records, batch.Records[0])
	twice, err := json.Marshal(batch)
	require.NoError(t, err)
	r = invoke("link-1-in-a-batch-twice", twice)
	assert.False(t, r.Failed(), r.ErrorMessage)
	assert.Equal(t, requests, sim.Stats().Requests, "the duplicates call no Falcon API")
	assert.Equal(t, 1, sim.Stats().CreatesSucceeded)

	client := sqs.NewFromConfig(d.moto.Config())
	var bodies []string
	for {
		out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
	}
	require.Len(t, bodies, 1, "one successor: the chain did not fork")
	assert.JSONEq(t, `{"run_id":"e2e-chain","depth":2}`, bodies[0])
	checkOutput(t, fn.Stop())
}

// A cold start with an invalid configuration does not crash-loop: every
// invocation fails as InvalidConfiguration naming the variable, and a stack
// Delete is still answered so the stack can go away.
func TestBootstrapInvalidConfigurationUnderEmulator(t *testing.T) {
	d := deploy(t, nil, "FALCON_CLOUD=mars-1")
	fn := d.start(t, time.Minute)
	for i := range 2 {
		r := fn.Invoke(t, fmt.Sprintf("manual-%d", i), []byte(`{}`))
		assert.Equal(t, "InvalidConfiguration", r.ErrorType, r.ErrorMessage)
		assert.Contains(t, r.ErrorMessage, "FALCON_CLOUD")
	}
	r := fn.Invoke(t, "cfn-delete", []byte(cfnEvent(t, d.cfn.URL, cfn.RequestDelete, "cfn-delete-1", trigger.PhysicalResourceID(stackID, logicalID))))
	assert.False(t, r.Failed(), r.ErrorMessage)
	put := onlyNewPut(t, d.cfn, 0)
	assert.Equal(t, cfn.StatusSuccess, put.Status, put.Reason)
	assert.Zero(t, d.sim.Stats().Requests)
	checkOutput(t, fn.Stop())
}

// ecrOnboardPrefixOnly checks that every registration left is one the demo
// made under the prefix "ecr-onboard" (not this stack's: its prefix is
// ecr-onboard-<its stack ID's UUID>, and its name, the prefix it adopts, is
// ecr-onboard-e2e), and counts them.
func ecrOnboardPrefixOnly(t *testing.T, sim *falconsim.Sim) int {
	t.Helper()
	left := sim.Registries()
	for _, r := range left {
		assert.Regexp(t, `^ecr-onboard-[0-9]{12}-`, r.Alias)
	}
	return len(left)
}

// aws-lambda-go's own line for a function error (log.Printf to stderr).
var runtimeErrorLine = regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \{"errorMessage":`)

// checkOutput checks that every line the function printed is a JSON log
// line or EMF record (or aws-lambda-go's error line), that every log line
// of an invocation carries its run_id, and that the cold start logged no
// warning; it returns the JSON lines.
func checkOutput(t *testing.T, out rietest.Output) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range out.FunctionLines() {
		if runtimeErrorLine.MatchString(line) {
			continue
		}
		var m map[string]any
		if !assert.NoError(t, json.Unmarshal([]byte(line), &m), "not a JSON line: %s", line) {
			continue
		}
		repeated, _ := jsonlog.RepeatedKeys([]byte(line))
		assert.Empty(t, repeated, "one key, one value: %s", line)
		lines = append(lines, m)
		if _, emf := m["_aws"]; emf {
			assert.NotEmpty(t, m["run_id"], "EMF record without run_id: %s", line)
			continue
		}
		if _, ok := m["aws_request_id"]; ok {
			assert.NotEmpty(t, m["run_id"], "log line without run_id: %s", line)
		} else if m["level"] != "DEBUG" && m["level"] != "INFO" {
			// Outside an invocation: the cold start, which logs problems only.
			assert.Contains(t, m["msg"], "cold start failed", "cold-start line: %s", line)
		}
	}
	return lines
}

// onlyNewPut returns the one response PUT received after the first `before`,
// failing unless there is exactly one, of the right stack and resource, under 4 KB.
func onlyNewPut(t *testing.T, c *cfnReceiver, before int) cfnPut {
	t.Helper()
	puts := c.received()
	if len(puts) != before+1 {
		var got []string
		for _, p := range puts {
			got = append(got, p.Method+" "+p.RequestID+" "+string(p.Status))
		}
		t.Fatalf("%d CloudFormation responses for %d requests, want exactly one each: %v", len(puts), before+1, got)
	}
	p := puts[before]
	assert.Equal(t, "PUT", p.Method)
	assert.Less(t, p.Size, 4096, "CloudFormation refuses responses of 4 KB and more")
	assert.Equal(t, stackID, p.StackID)
	assert.Equal(t, logicalID, p.LogicalResourceID)
	return p
}

func cfnEvent(t *testing.T, receiverURL string, requestType cfn.RequestType, requestID, physicalID string) string {
	t.Helper()
	ev := map[string]any{
		"RequestType": requestType, "ResponseURL": receiverURL + "/cfn-response?X-Amz-Signature=e2e",
		"StackId": stackID, "RequestId": requestID, "LogicalResourceId": logicalID, "ResourceType": "Custom::EcrOnboardReconcile",
		"ServiceToken":       "arn:aws:lambda:us-east-1:123456789012:function:" + functionName,
		"ResourceProperties": map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:" + functionName},
	}
	if physicalID != "" {
		ev["PhysicalResourceId"] = physicalID
	}
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return string(b)
}

func sqsEvent(t *testing.T, sourceARN, body string) string {
	t.Helper()
	b, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "e2e-1", Body: body, EventSource: "aws:sqs", EventSourceARN: sourceARN, AWSRegion: "us-east-1",
	}}})
	require.NoError(t, err)
	return string(b)
}

// secretsOf is what must never appear in the function's output: the Falcon
// API client secret, the AWS secret key, and the external ID of every demo
// account, as CSPM serves them (read through the real adapter from a
// simulator of its own).
func secretsOf(t *testing.T) []string {
	t.Helper()
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	falconsim.DemoFixtures(sim)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()
	rn, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), nil)
	require.NoError(t, err)
	accounts, err := rn.Falcon.Accounts(context.Background())
	require.NoError(t, err)
	secrets := []string{demo.ClientSecret, mototest.SecretAccessKey}
	for _, a := range accounts {
		if a.ExternalID != "" {
			secrets = append(secrets, a.ExternalID)
		}
	}
	require.Len(t, secrets, 2+12, "every demo account but one has an external ID")
	return secrets
}
