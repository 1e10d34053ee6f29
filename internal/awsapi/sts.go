package awsapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// STS is the part of the STS client used here.
type STS interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// Identity is the AWS account and partition the tool runs in.
type Identity struct {
	Account   string
	Partition string // aws, aws-us-gov, aws-cn
}

// CallerIdentity asks STS who we are (once per cold start).
func CallerIdentity(ctx context.Context, c STS) (Identity, error) {
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("sts:GetCallerIdentity: %w", err)
	}
	arn := aws.ToString(out.Arn)
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" || aws.ToString(out.Account) == "" {
		return Identity{}, fmt.Errorf("sts:GetCallerIdentity answered an unexpected ARN %q", arn)
	}
	return Identity{Account: aws.ToString(out.Account), Partition: parts[1]}, nil
}
