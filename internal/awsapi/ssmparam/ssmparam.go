// Package ssmparam is SSM Parameter Store as the member setup
// (internal/membersetup) uses it: one String parameter read and written
// whole, where it keeps what it added to a CSPM role (Parameter), and a
// lease on another, which lets one invocation at a time write (Lease). It
// stands apart from internal/awsapi so that the onboarding function, which
// never touches SSM, does not link its client.
package ssmparam

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// SSM is the part of the Systems Manager client used here.
type SSM interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opts ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
	GetParameterHistory(ctx context.Context, in *ssm.GetParameterHistoryInput, opts ...func(*ssm.Options)) (*ssm.GetParameterHistoryOutput, error)
}

// NewClient is the Systems Manager client for cfg. Besides what the SDK's
// retryer retries (ThrottlingException among them), PutParameter's
// TooManyUpdates is retried: SSM answers it when a parameter is written
// while another write of it is under way, and the standard retryer does not
// know the code.
func NewClient(cfg aws.Config) *ssm.Client {
	return ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		o.Retryer = retry.AddWithErrorCodes(o.Retryer, "TooManyUpdates")
	})
}

// Parameter is one String parameter of SSM Parameter Store (standard tier:
// free, up to 4 KB), read and written whole: the member setup keeps its
// record there (internal/membersetup).
type Parameter struct {
	SSM  SSM
	Name string
}

// Get returns the value; found is false when there is no such parameter.
func (p Parameter) Get(ctx context.Context) (value string, found bool, err error) {
	out, err := p.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(p.Name)})
	var missing *types.ParameterNotFound
	switch {
	case errors.As(err, &missing):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("ssm:GetParameter %s: %w", p.Name, err)
	case out.Parameter == nil:
		return "", false, fmt.Errorf("ssm:GetParameter %s: the answer has no parameter", p.Name)
	}
	return aws.ToString(out.Parameter.Value), true, nil
}

// Put creates or overwrites the parameter with value.
func (p Parameter) Put(ctx context.Context, value string) error {
	_, err := p.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(p.Name), Value: aws.String(value), Type: types.ParameterTypeString,
		Tier: types.ParameterTierStandard, Overwrite: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("ssm:PutParameter %s: %w", p.Name, err)
	}
	return nil
}

// Delete removes the parameter; one that is gone already is no error.
func (p Parameter) Delete(ctx context.Context) error {
	_, err := p.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(p.Name)})
	var missing *types.ParameterNotFound
	if err != nil && !errors.As(err, &missing) {
		return fmt.Errorf("ssm:DeleteParameter %s: %w", p.Name, err)
	}
	return nil
}
