package awsapi

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is the part of the SQS client used here.
type SQS interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Queue is the continuation queue (trigger.Queue).
type Queue struct {
	SQS SQS
	URL string
}

// Send queues body.
func (q Queue) Send(ctx context.Context, body string) error {
	if _, err := q.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(body)}); err != nil {
		return fmt.Errorf("sqs:SendMessage to %s: %w", q.URL, err)
	}
	return nil
}

// waitingAttributes count a queue's messages waiting to be delivered:
// visible, and delayed. Not those hidden (ApproximateNumberOfMessagesNotVisible):
// a hidden message is being processed, or its delivery failed and it waits
// out its visibility timeout, and the count cannot tell which.
var waitingAttributes = []types.QueueAttributeName{
	types.QueueAttributeNameApproximateNumberOfMessages,
	types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
}

// Waiting counts the queue's messages waiting to be delivered, visible or
// delayed (SQS's approximate counts).
func (q Queue) Waiting(ctx context.Context) (int, error) {
	out, err := q.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL), AttributeNames: waitingAttributes})
	if err != nil {
		return 0, fmt.Errorf("sqs:GetQueueAttributes of %s: %w", q.URL, err)
	}
	n := 0
	for _, name := range waitingAttributes {
		v, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			return 0, fmt.Errorf("sqs:GetQueueAttributes of %s: %s is %q", q.URL, name, out.Attributes[string(name)])
		}
		n += v
	}
	return n, nil
}

var queueURLPattern = regexp.MustCompile(`^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/([0-9]{12})/([A-Za-z0-9_-]{1,80})$`)

// QueueARN is the ARN of the queue at an SQS queue URL
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME).
func QueueARN(url string) (string, error) {
	m := queueURLPattern.FindStringSubmatch(url)
	if m == nil {
		return "", fmt.Errorf("%q is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)", url)
	}
	partition := "aws"
	switch {
	case m[2] != "":
		partition = "aws-cn"
	case len(m[1]) > 7 && m[1][:7] == "us-gov-":
		partition = "aws-us-gov"
	}
	return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", partition, m[1], m[3], m[4]), nil
}
