package awsapi

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

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

// SNS limits: subject 100 characters, message 256 KB (SNS Publish API:
// "Messages must be UTF-8 encoded strings and at most 256 KB in size").
// The summary is bounded already (onboard.Report.WriteSummary: counts and
// the first entries of each list, each text at most onboard.TextBound); a
// message cut here is one whose every list is full of such texts.
const (
	maxSubject = 100
	maxMessage = 200_000
)

// Notify publishes the report's summary: a subject with the coverage
// verdict and the counts (at most 100 characters, SNS's limit), and the
// report as onboard.Report.WriteSummary prints it (coverage and why it is
// not clean, failures with hints, skipped accounts).
func (n Notifier) Notify(ctx context.Context, r onboard.Report, runErr error) error {
	g := r.Registries
	subject := fmt.Sprintf("ecr-onboard: %d created, %d updated, %d deleted, %d failed",
		len(g.Created), len(g.Updated), len(g.Deleted), len(g.Failed))
	if c := r.Coverage; c != nil {
		verdict, who := "clean", "ecr-onboard"
		if !c.Clean {
			verdict = "NOT clean"
		}
		if r.Narrowed { // its coverage is of the accounts and regions it was narrowed to
			who = "ecr-onboard (narrowed)"
		}
		subject = fmt.Sprintf("%s: coverage %.1f%% (%s); %d created, %d updated, %d failed, %d accounts skipped",
			who, c.Percent, verdict, len(g.Created), len(g.Updated), len(g.Failed), len(r.Accounts.Skipped))
	}
	var b strings.Builder
	if runErr != nil {
		subject = "ecr-onboard: run failed"
		fmt.Fprintf(&b, "The run stopped: %v\n\n", runErr)
	}
	r.WriteSummary(&b)
	msg := b.String()
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "\n… (truncated; see the function's logs for the full report)\n"
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
