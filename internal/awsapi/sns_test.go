package awsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Against moto's SNS, delivered to an SQS queue: the summary of a narrowed
// run says so in its subject; a summary whose every list is full of the
// longest texts is cut under SNS's 256 KB, between characters.
func TestNotifierAgainstMoto(t *testing.T) {
	srv := mototest.Start(t)
	ctx := context.Background()
	topic, err := sns.NewFromConfig(srv.Config()).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("summaries")})
	require.NoError(t, err)
	queue, err := sqs.NewFromConfig(srv.Config()).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("summaries")})
	require.NoError(t, err)
	_, err = sns.NewFromConfig(srv.Config()).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:" + mototest.Region + ":" + mototest.AccountID + ":summaries")})
	require.NoError(t, err)
	n := Notifier{SNS: sns.NewFromConfig(srv.Config()), TopicARN: aws.ToString(topic.TopicArn)}
	received := func() (subject, message string) {
		t.Helper()
		out, err := sqs.NewFromConfig(srv.Config()).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Len(t, out.Messages, 1)
		var m struct{ Subject, Message string }
		require.NoError(t, json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &m))
		_, err = sqs.NewFromConfig(srv.Config()).DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: out.Messages[0].ReceiptHandle})
		require.NoError(t, err)
		return m.Subject, m.Message
	}

	narrowed := onboard.EmptyReport("run-1", onboard.TriggerManual)
	narrowed.Coverage = &onboard.Coverage{Desired: 1, Present: 1, Percent: 100, Clean: true}
	narrowed.Narrowed, narrowed.Narrowing = true, &onboard.Narrowing{AccountIDs: []string{"111111111111"}}
	require.NoError(t, n.Notify(ctx, narrowed, nil))
	subject, message := received()
	assert.Equal(t, "ecr-onboard (narrowed): coverage 100.0% (clean); 0 created, 0 updated, 0 failed, 0 accounts skipped", subject)
	assert.Contains(t, message, "  narrowed:   to accounts 111111111111; its coverage is of that part of the scope only\n")

	// Every list full of texts at onboard.TextBound, in two-byte characters.
	long := strings.Repeat("é", onboard.TextBound)
	full := onboard.EmptyReport("run-2", onboard.TriggerSchedule)
	g := &full.Registries
	for i := range 3 * onboard.ListBound {
		url := fmt.Sprintf("https://%012d.dkr.ecr.us-east-1.amazonaws.com", 100000000000+i)
		f := onboard.Failure{URL: url, Error: long, Hint: long}
		ref := onboard.RegistryRef{URL: url, RegistryID: long, Reason: long}
		g.Failed, g.Pending, g.DeleteFailed, g.Paused, g.Unusable = append(g.Failed, f), append(g.Pending, f), append(g.DeleteFailed, f), append(g.Paused, f), append(g.Unusable, f)
		g.Created, g.Updated, g.Deleted, g.Kept = append(g.Created, ref), append(g.Updated, ref), append(g.Deleted, ref), append(g.Kept, ref)
	}
	var whole strings.Builder
	full.WriteSummary(&whole)
	require.Greater(t, whole.Len(), maxMessage, "a summary that must be cut")
	require.NoError(t, n.Notify(ctx, full, nil))
	_, message = received()
	assert.LessOrEqual(t, len(message), 256<<10)
	assert.True(t, utf8.ValidString(message))
	assert.True(t, strings.HasSuffix(message, "… (truncated; see the function's logs for the full report)\n"))
}
