package awsapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
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

// TrustProbe implements onboard.TrustVerifier with sts:AssumeRole.
type TrustProbe struct{ STS STS }

// VerifyTrust implements onboard.TrustVerifier.
func (p TrustProbe) VerifyTrust(ctx context.Context, a onboard.Account) *onboard.Refusal {
	open, err := p.AssumableWithoutExternalID(ctx, a.RoleARN)
	switch {
	case err != nil:
		return &onboard.Refusal{Reason: "VERIFY_TRUST could not check the role's trust policy: " + err.Error()}
	case open:
		return &onboard.Refusal{Reason: "role " + a.RoleARN + " can be assumed WITHOUT an external ID: add the sts:ExternalId condition to its trust policy before onboarding"}
	}
	return nil
}

// AssumableWithoutExternalID tries to assume roleARN with no external ID.
// Access denied is the healthy answer; success means the trust policy lacks
// the sts:ExternalId condition. The credentials of a success are dropped.
func (p TrustProbe) AssumableWithoutExternalID(ctx context.Context, roleARN string) (bool, error) {
	_, err := p.STS.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(roleARN),
		RoleSessionName: aws.String("ecr-onboard-trust-check"),
		DurationSeconds: aws.Int32(900),
	})
	if err == nil {
		return true, nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDenied" {
		return false, nil
	}
	return false, fmt.Errorf("sts:AssumeRole %s: %w", roleARN, err)
}
