package app_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/orgtest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	connector = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	registry  = "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
)

// TestVerifyTrustThroughTheAWSSDK is VERIFY_TRUST end to end: the real
// Falcon client against the simulator, and the real AWS SDK against moto
// playing an organisation, moto enforcing every caller's permissions (the
// function may assume only the trust readers; each reader may read only its
// CSPM role). Account 1's CSPM statement requires its external ID: it is
// onboarded. Account 2's lets CrowdStrike in without one: it is skipped, and
// the summary published to SNS says why. Home account and partition come from
// STS. A second run checks only the account still not onboarded.
func TestVerifyTrustThroughTheAWSSDK(t *testing.T) {
	org := orgtest.New(t)
	good, bad := org.Member("111111111111"), org.Member("222222222222")
	goodRole := good.CSPMRole("CrowdStrikeCSPMReader-good", "/", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
		`"Principal":{"AWS":["`+connector+`","`+registry+`"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-good-1111"}}}]}`)
	good.TrustReader(goodRole)
	badRole := bad.CSPMRole("CrowdStrikeCSPMReader-bad", "/", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
		`"Principal":{"AWS":["`+connector+`","`+registry+`"]},"Action":"sts:AssumeRole"}]}`)
	bad.TrustReader(badRole)

	topic, published := summaryTopic(t, org)
	ctx := context.Background()
	fn := org.FunctionConfig()
	org.Enforce()

	accounts := []falconsim.Account{
		{ID: "111111111111", RoleARN: goodRole, ExternalID: "ext-good-1111", Regions: []string{"us-east-1"}, TrustsRegistryAssessment: true},
		{ID: "222222222222", RoleARN: badRole, ExternalID: "ext-bad-2222", Regions: []string{"us-east-1"}, TrustsRegistryAssessment: true},
	}
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(accounts...)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()
	env := map[string]string{
		"FALCON_BASE_URL": srv.URL, "FALCON_CLIENT_ID": demo.ClientID, "FALCON_CLIENT_SECRET": demo.ClientSecret,
		"VERIFY_TRUST": "true", "SNS_TOPIC_ARN": topic,
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	require.NoError(t, err)
	runner, err := app.NewRunner(ctx, cfg, app.Deps{HTTPClient: srv.Client(), LoadAWS: func(context.Context) (aws.Config, error) { return fn, nil }})
	require.NoError(t, err)

	report, err := runner.Run(ctx, onboard.Request{Trigger: onboard.TriggerManual})
	require.NoError(t, err)

	assert.Equal(t, orgtest.HomeAccount, report.HomeAccount)
	assert.Equal(t, "aws", report.Partition)
	require.Len(t, report.Registries.Created, 1)
	assert.Equal(t, "111111111111", report.Registries.Created[0].AccountID)
	require.Len(t, report.Accounts.Skipped, 1)
	skip := report.Accounts.Skipped[0]
	assert.Equal(t, "222222222222", skip.AccountID)
	assert.Contains(t, skip.Reason, "VERIFY_TRUST: the trust policy of "+badRole+" lets CrowdStrike (or anyone) in without CSPM's external ID")
	assert.Contains(t, skip.Reason, "has no sts:ExternalId condition")
	assert.Equal(t, map[string]int{"STS.GetCallerIdentity": 1, "STS.AssumeRole": 2, "IAM.GetRole": 2, "SNS.Publish": 1}, count(org.Calls()),
		"two calls per account checked")

	summaries := published()
	require.Len(t, summaries, 1)
	assert.Equal(t, "ecr-onboard: coverage 50.0% (NOT clean); 1 created, 0 updated, 0 failed, 1 accounts skipped", summaries[0].Subject)
	assert.Contains(t, summaries[0].Message, "has no sts:ExternalId condition")
	for _, a := range accounts {
		assert.NotContains(t, summaries[0].Message, a.ExternalID)
		assert.NotContains(t, skip.Reason, a.ExternalID)
	}

	// Second run: account 1 is onboarded and unchanged, so it is not
	// checked again; account 2 still is (it still has registrations to create).
	before := count(org.Calls())
	report, err = runner.Run(ctx, onboard.Request{Trigger: onboard.TriggerManual})
	require.NoError(t, err)
	assert.Empty(t, report.Registries.Created)
	assert.Equal(t, 1, report.Registries.Unchanged)
	after := count(org.Calls())
	assert.Equal(t, 1, after["STS.AssumeRole"]-before["STS.AssumeRole"])
	assert.Equal(t, 1, after["IAM.GetRole"]-before["IAM.GetRole"])
}

// A tenant where every account is skipped: zero coverage is never a quiet
// success. The summary is published (once: the same verdict again is not
// told again by the same process), through the real SDK against moto.
func TestSummaryOfATenantWhereEveryAccountIsSkipped(t *testing.T) {
	org := orgtest.New(t)
	topic, published := summaryTopic(t, org)
	fn := org.FunctionConfig()
	accounts := falconsim.GenerateAccounts(24, []string{"us-east-1", "eu-west-1"})
	for i := range accounts {
		accounts[i].ExternalID = ""
	}
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(accounts...)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()
	env := map[string]string{
		"FALCON_BASE_URL": srv.URL, "FALCON_CLIENT_ID": demo.ClientID, "FALCON_CLIENT_SECRET": demo.ClientSecret, "SNS_TOPIC_ARN": topic,
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	require.NoError(t, err)
	ctx := context.Background()
	runner, err := app.NewRunner(ctx, cfg, app.Deps{HTTPClient: srv.Client(), LoadAWS: func(context.Context) (aws.Config, error) { return fn, nil }})
	require.NoError(t, err)

	for range 2 {
		report, err := runner.Run(ctx, onboard.Request{Trigger: onboard.TriggerSchedule})
		require.NoError(t, err)
		assert.Equal(t, 4, report.ExitCode())
		assert.Equal(t, onboard.Missing{AccountSkipped: 48}, report.Coverage.Missing)
	}
	summaries := published()
	require.Len(t, summaries, 1, "published once; the second run's verdict is the same")
	assert.Equal(t, "ecr-onboard: coverage 0.0% (NOT clean); 0 created, 0 updated, 0 failed, 24 accounts skipped", summaries[0].Subject)
	assert.Contains(t, summaries[0].Message, "24 account(s) skipped for a cause a person must fix")
	assert.Contains(t, summaries[0].Message, "CSPM has no external ID for this account")
}

type summary struct{ Subject, Message string }

// summaryTopic makes an SNS topic in org's home account and returns its ARN
// and a function that reads what was published to it (through an SQS queue
// subscribed to it).
func summaryTopic(t *testing.T, org *orgtest.Org) (topicARN string, published func() []summary) {
	t.Helper()
	admin, ctx := org.Admin(), context.Background()
	topic, err := sns.NewFromConfig(admin).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ecr-onboard")})
	require.NoError(t, err)
	queue, err := sqs.NewFromConfig(admin).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("summaries")})
	require.NoError(t, err)
	_, err = sns.NewFromConfig(admin).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:us-east-1:" + orgtest.HomeAccount + ":summaries")})
	require.NoError(t, err)
	return aws.ToString(topic.TopicArn), func() []summary {
		msgs, err := sqs.NewFromConfig(admin).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		out := make([]summary, len(msgs.Messages))
		for i, m := range msgs.Messages {
			require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &out[i]))
		}
		return out
	}
}

func count(calls []string) map[string]int {
	m := map[string]int{}
	for _, c := range calls {
		m[c]++
	}
	return m
}
