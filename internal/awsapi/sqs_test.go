package awsapi

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

func TestQueueARN(t *testing.T) {
	for url, want := range map[string]string{
		"https://sqs.us-east-1.amazonaws.com/123456789012/ecr-onboard-continuation": "arn:aws:sqs:us-east-1:123456789012:ecr-onboard-continuation",
		"https://sqs.us-gov-west-1.amazonaws.com/123456789012/q":                    "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q",
		"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q":                    "arn:aws-cn:sqs:cn-north-1:123456789012:q",
		"http://sqs.us-east-1.amazonaws.com/123456789012/q":                         "",
		"https://evil.example.com/123456789012/q":                                   "",
		"https://sqs.us-east-1.amazonaws.com/1234/q":                                "",
	} {
		got, err := QueueARN(url)
		assert.Equal(t, want, got, url)
		assert.Equal(t, want == "", err != nil, url)
	}
}

// Against moto's SQS: the waiting count sees a message waiting and one
// delayed, not one hidden (received, not deleted: being processed, or its
// delivery failed), and nothing once it is deleted.
func TestQueueWaitingAgainstMoto(t *testing.T) {
	srv := mototest.Start(t)
	ctx := context.Background()
	client := sqs.NewFromConfig(srv.Config())
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ecr-onboard-continuation")})
	require.NoError(t, err)
	q := Queue{SQS: client, URL: *created.QueueUrl}

	n, err := q.Waiting(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "no chain")

	require.NoError(t, q.Send(ctx, `{"run_id":"r","depth":1}`))
	n, err = q.Waiting(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a continuation waits")

	got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, VisibilityTimeout: 900})
	require.NoError(t, err)
	require.Len(t, got.Messages, 1)
	n, err = q.Waiting(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a hidden message is not waiting: whether a chain is in flight is its claim's to say")

	_, err = client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String(`{"run_id":"r","depth":2}`), DelaySeconds: 900})
	require.NoError(t, err)
	n, err = q.Waiting(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a delayed message waits")

	_, err = Queue{SQS: client, URL: *created.QueueUrl + "-gone"}.Waiting(ctx)
	assert.Error(t, err)
}
