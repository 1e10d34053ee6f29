package main

// What a run says about itself, and how much, as the real bootstrap says it
// under the emulator: only a run over the whole configured scope speaks for
// the tenant (the coverage metrics, the summaries published to SNS), and
// every answer is bounded however large the tenant's failure.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// A tenant of two accounts: A is healthy, B has no external ID in CSPM
// (skipped: a person must fix it), so the tenant is not clean. A manual run
// narrowed to A is clean, and between two scheduled runs it changes
// neither the coverage metric (it emits none) nor what the function
// remembers of the summaries it told (it publishes none: it changed
// nothing). Once B is fixed the tenant is clean, which is told and forgets
// the verdicts told; B broken again (its registration stays: 100% present,
// yet not clean), the same unclean verdict is told again at once.
func TestBootstrapNarrowedRunSpeaksForNoTenantUnderEmulator(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	accounts := falconsim.GenerateAccounts(2, []string{"us-east-1"})
	a, b := accounts[0], accounts[1]
	externalID := b.ExternalID
	b.ExternalID = ""
	sim.AddAccounts(a, b)
	d := deploy(t, sim)
	topic, published := summaryTopic(t, d.moto)
	d.env = append(d.env, "SNS_TOPIC_ARN="+topic)
	fn := d.start(t, time.Minute)

	type step struct {
		name, payload string
		before        func()
		told          []string // subjects published, in order
		narrowed      bool
		incomplete    any // CoverageIncomplete; nil: not emitted
	}
	steps := []step{
		{name: "schedule-1", payload: scheduled, told: []string{"ecr-onboard: coverage 50.0% (NOT clean); 1 created, 0 updated, 0 failed, 1 accounts skipped"},
			incomplete: 1.0},
		{name: "manual-narrowed-to-a", payload: `{"account_ids":["` + a.ID + `"]}`, narrowed: true},
		{name: "schedule-2", payload: scheduled, incomplete: 1.0},
		{name: "schedule-3", payload: scheduled, before: func() {
			sim.AddRole(b.RoleARN, externalID, true)
			fixed := b
			fixed.ExternalID = externalID
			sim.AddAccounts(fixed)
		}, told: []string{"ecr-onboard: coverage 100.0% (clean); 1 created, 0 updated, 0 failed, 0 accounts skipped"}, incomplete: 0.0},
		{name: "schedule-4", payload: scheduled, before: func() { sim.AddAccounts(b) },
			told: []string{"ecr-onboard: coverage 100.0% (NOT clean); 0 created, 0 updated, 0 failed, 1 accounts skipped"}, incomplete: 1.0},
	}
	runIDs := map[string]string{}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		r := fn.Invoke(t, s.name, []byte(s.payload))
		require.False(t, r.Failed(), "%s: %s %s", s.name, r.ErrorType, r.ErrorMessage)
		var rep onboard.Report
		require.NoError(t, json.Unmarshal(r.Body, &rep))
		assert.Equal(t, s.narrowed, rep.Narrowed, s.name)
		runIDs[rep.RunID] = s.name
		var subjects []string
		for _, m := range published() {
			subjects = append(subjects, m.Subject)
		}
		assert.Equal(t, s.told, subjects, "%s: the summaries published", s.name)
		if s.narrowed {
			require.True(t, rep.Coverage.Clean, "%s: the part it ran over is clean", s.name)
		}
	}

	seen := map[string]bool{}
	for _, l := range checkOutput(t, fn.Stop()) {
		if _, emf := l["_aws"]; !emf {
			continue
		}
		name := runIDs[l["run_id"].(string)]
		seen[name] = true
		for _, s := range steps {
			if s.name != name {
				continue
			}
			assert.Equal(t, s.narrowed, l["narrowed"], name)
			assert.Equal(t, s.incomplete, l["CoverageIncomplete"], "%s: CoverageIncomplete", name)
			if s.incomplete == nil {
				for _, m := range []string{"CoveragePercent", "RegistriesMissing", "CoverageIncomplete"} {
					assert.NotContains(t, l, m, name)
				}
			}
		}
	}
	assert.Len(t, seen, len(steps), "one EMF line per run")
}

// 400 accounts x 17 regions whose roles all refuse Falcon: the whole
// report, about 1 KB a failure, would pass Lambda's 6 MB response limit
// (the invocation would fail with Function.ResponseSizeTooLarge, and
// aws-lambda-go end the process on the Runtime API's 413). The scheduled
// run answers successfully, its answer bounded; the same process answers
// the next invocation; the log holds every failure.
func TestBootstrapAnswersAnUntrustedTenantUnderEmulator(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, RateLimitPerMinute: 6_000_000})
	accounts := falconsim.GenerateAccounts(400, seventeenRegions)
	for i := range accounts {
		accounts[i].TrustsRegistryAssessment = false
	}
	sim.AddAccounts(accounts...)
	d := deploy(t, sim, "TRUST_PROPAGATION_WAIT=0", "LOG_LEVEL=info")
	fn := d.start(t, 10*time.Minute)

	r := fn.Invoke(t, "schedule", []byte(scheduled))
	require.Equal(t, 200, r.Status)
	require.False(t, r.Failed(), "%s: %.500s", r.ErrorType, r.ErrorMessage)
	pid := fn.FunctionPID()
	t.Logf("answer: %d bytes", len(r.Body))
	assert.Less(t, len(r.Body), 64<<10)
	var rep onboard.Report
	require.NoError(t, json.Unmarshal(r.Body, &rep))
	assert.Equal(t, 400*17, rep.Registries.Desired)
	assert.NoError(t, rep.Balanced(), "the counts are whole")
	assert.Positive(t, rep.Failures())
	assert.Zero(t, sim.Stats().CreatesSucceeded)
	require.NotEmpty(t, rep.Truncated)
	for list, more := range rep.Truncated {
		assert.Positive(t, more, list)
	}
	assert.Len(t, rep.Registries.Failed, onboard.ListBound)

	r = fn.Invoke(t, "dry-run", []byte(`{"dry_run":true}`))
	require.False(t, r.Failed(), "%s: %.500s", r.ErrorType, r.ErrorMessage)
	assert.Equal(t, pid, fn.FunctionPID(), "the same process answered: no cold start")

	logged := 0
	for _, line := range fn.Stop().FunctionLines() {
		if strings.Contains(line, `"msg":"report entry"`) && strings.Contains(line, `"list":"registries.failed"`) &&
			strings.Contains(line, `"run_id":"`+rep.RunID+`"`) {
			logged++
			assert.Less(t, len(line), 16<<10)
		}
	}
	assert.Equal(t, rep.Failures(), logged, "every failure is in the log")
}

var seventeenRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
}

type published struct{ Subject, Message string }

// summaryTopic makes an SNS topic in moto and returns its ARN and a function
// that takes what was published to it since it was last called (through
// an SQS queue subscribed to it).
func summaryTopic(t *testing.T, moto *mototest.Server) (topicARN string, take func() []published) {
	t.Helper()
	ctx, cfg := context.Background(), moto.Config()
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ecr-onboard-summaries")})
	require.NoError(t, err)
	queue, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ecr-onboard-summaries")})
	require.NoError(t, err)
	_, err = sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:" + mototest.Region + ":" + mototest.AccountID + ":ecr-onboard-summaries")})
	require.NoError(t, err)
	client := sqs.NewFromConfig(cfg)
	return aws.ToString(topic.TopicArn), func() []published {
		var out []published
		for {
			msgs, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10})
			require.NoError(t, err)
			if len(msgs.Messages) == 0 {
				return out
			}
			for _, m := range msgs.Messages {
				var p published
				require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &p))
				out = append(out, p)
				_, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: m.ReceiptHandle})
				require.NoError(t, err)
			}
		}
	}
}
