// Package iamrole is the thin AWS IAM adapter the trust-policy helper needs:
// read a role's trust policy (iam:GetRole) and replace it
// (iam:UpdateAssumeRolePolicy). Nothing else.
package iamrole

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// ErrNoSuchRole is returned when the role does not exist in the account the
// AWS credentials belong to.
var ErrNoSuchRole = errors.New("no such IAM role")

// API is the part of the IAM client used here.
type API interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, optFns ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
}

// Client reads and writes IAM role trust policies.
type Client struct{ api API }

// Role is what GetRole tells about a role.
type Role struct {
	Name        string
	ARN         string
	TrustPolicy string // JSON, URL-decoded
}

// New builds a client from the default AWS configuration chain (environment,
// shared config and credentials files, SSO, instance role …). IAM is global:
// the region is set from the partition so GovCloud roles reach GovCloud IAM.
func New(ctx context.Context, partition string) (*Client, error) {
	region := "us-east-1"
	if partition == "aws-us-gov" {
		region = "us-gov-west-1"
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return NewFromConfig(cfg), nil
}

// NewFromConfig builds a client from an AWS configuration.
func NewFromConfig(cfg aws.Config) *Client { return &Client{api: iam.NewFromConfig(cfg)} }

// NewFromAPI wraps an existing IAM API (tests).
func NewFromAPI(api API) *Client { return &Client{api: api} }

// GetRole returns the role and its decoded trust policy.
func (c *Client) GetRole(ctx context.Context, name string) (Role, error) {
	out, err := c.api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		return Role{}, wrap("iam:GetRole", name, err)
	}
	if out.Role == nil || out.Role.AssumeRolePolicyDocument == nil {
		return Role{}, fmt.Errorf("iam:GetRole %s: the answer has no trust policy", name)
	}
	doc, err := DecodePolicy(*out.Role.AssumeRolePolicyDocument)
	if err != nil {
		return Role{}, fmt.Errorf("iam:GetRole %s: %w", name, err)
	}
	return Role{Name: aws.ToString(out.Role.RoleName), ARN: aws.ToString(out.Role.Arn), TrustPolicy: doc}, nil
}

// UpdateTrustPolicy replaces the role's trust policy with doc (JSON).
func (c *Client) UpdateTrustPolicy(ctx context.Context, name, doc string) error {
	_, err := c.api.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{
		RoleName: aws.String(name), PolicyDocument: aws.String(doc),
	})
	return wrap("iam:UpdateAssumeRolePolicy", name, err)
}

// DecodePolicy undoes the URL encoding IAM applies to policy documents in
// its answers. A document that is already plain JSON is returned as is.
func DecodePolicy(s string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		return s, nil
	}
	doc, err := url.QueryUnescape(s)
	if err != nil {
		return "", fmt.Errorf("decoding the trust policy: %w", err)
	}
	return doc, nil
}

func wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var notFound *types.NoSuchEntityException
	if errors.As(err, &notFound) {
		return fmt.Errorf("%s %s: %w in the account of the current AWS credentials", op, name, ErrNoSuchRole)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
			return fmt.Errorf("%s %s: access denied (the AWS credentials need %s on the role): %s", op, name, op, apiErr.ErrorMessage())
		}
		return fmt.Errorf("%s %s: %s: %s", op, name, apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}
