package awsapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// SNS is the part of the SNS client used here.
type SNS interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Notifier implements onboard.Notifier: a short plain-text summary to a topic.
type Notifier struct {
	SNS      SNS
	TopicARN string
}

// SNS limits: subject 100 characters, message 256 KB.
const (
	maxSubject = 100
	maxMessage = 200_000
)

// Notify publishes the report's summary (counts, failures with hints).
func (n Notifier) Notify(ctx context.Context, r onboard.Report, runErr error) error {
	g := r.Registries
	subject := fmt.Sprintf("ecr-onboard: %d created, %d updated, %d deleted, %d failed",
		len(g.Created), len(g.Updated), len(g.Deleted), len(g.Failed))
	var b strings.Builder
	if runErr != nil {
		subject = "ecr-onboard: run failed"
		fmt.Fprintf(&b, "The run stopped: %v\n\n", runErr)
	}
	r.WriteSummary(&b)
	msg := b.String()
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "\n… (truncated; see the function's logs for the full report)\n"
	}
	_, err := n.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(n.TopicARN),
		Subject:  aws.String(subject[:min(len(subject), maxSubject)]),
		Message:  aws.String(msg),
	})
	if err != nil {
		return fmt.Errorf("sns:Publish to %s: %w", n.TopicARN, err)
	}
	return nil
}
