// Package iamrole is the thin AWS IAM adapter for CSPM roles: read a role
// and its trust policy (iam:GetRole, iam:ListRoles), replace the trust policy
// (iam:UpdateAssumeRolePolicy), attach or detach a managed policy
// (iam:ListAttachedRolePolicies, iam:AttachRolePolicy, iam:DetachRolePolicy),
// and know the account's quotas on those writes before making them
// (iam:GetAccountSummary; quota.go). Nothing else. It takes an aws.Config, so it links none of the SDK's
// shared-configuration machinery (the Lambda functions use it too).
package iamrole

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// ErrNoSuchRole is returned when the role does not exist in the account the
// AWS credentials belong to.
var ErrNoSuchRole = errors.New("no such IAM role")

// ErrAccessDenied is returned when the credentials may not make the call.
var ErrAccessDenied = errors.New("access denied")

// ErrMalformedPolicy is returned when IAM refuses a policy document
// (MalformedPolicyDocument: e.g. a principal that is not an ARN, an account
// or "*", such as a deleted role's unique ID). Sending it again cannot help.
var ErrMalformedPolicy = errors.New("IAM refused the policy document")

// API is the part of the IAM client used here.
type API interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListRoles(ctx context.Context, in *iam.ListRolesInput, optFns ...func(*iam.Options)) (*iam.ListRolesOutput, error)
	UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, optFns ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, optFns ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput, optFns ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	DetachRolePolicy(ctx context.Context, in *iam.DetachRolePolicyInput, optFns ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	GetAccountSummary(ctx context.Context, in *iam.GetAccountSummaryInput, optFns ...func(*iam.Options)) (*iam.GetAccountSummaryOutput, error)
}

// Client reads and writes IAM roles.
type Client struct{ api API }

// Role is what IAM tells about a role.
type Role struct {
	Name        string
	ARN         string
	TrustPolicy string // JSON, URL-decoded
}

// NewFromConfig builds a client from an AWS configuration. IAM is global;
// the client's region is set from the partition so that GovCloud roles
// reach GovCloud IAM whatever region cfg names. Besides what the SDK's
// retryer retries (Throttling among them), ConcurrentModification is
// retried: IAM answers it when two requests change one role at once, and
// the next attempt finds the role settled.
func NewFromConfig(cfg aws.Config, partition string) *Client {
	return &Client{api: iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.Region = Region(partition)
		o.Retryer = retry.AddWithErrorCodes(o.Retryer, "ConcurrentModification")
	})}
}

// NewFromAPI wraps an existing IAM API.
func NewFromAPI(api API) *Client { return &Client{api: api} }

// Region is a region of partition to send IAM calls to.
func Region(partition string) string {
	switch partition {
	case "aws-us-gov":
		return "us-gov-west-1"
	case "aws-cn":
		return "cn-north-1"
	}
	return "us-east-1"
}

var roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// ValidRoleName reports whether s is an IAM role name (not a path or ARN).
func ValidRoleName(s string) bool { return roleNamePattern.MatchString(s) }

// RoleName is the name in a role ARN (arn:…:role/path/NAME): the part after
// the last slash; GetRole takes names, not paths.
func RoleName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// GetRole returns the role and its decoded trust policy.
func (c *Client) GetRole(ctx context.Context, name string) (Role, error) {
	out, err := c.api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		return Role{}, wrap("iam:GetRole", name, err)
	}
	if out.Role == nil {
		return Role{}, fmt.Errorf("iam:GetRole %s: the answer has no role", name)
	}
	return role(*out.Role)
}

// ListRoles returns every role of the account (all pages).
func (c *Client) ListRoles(ctx context.Context) ([]Role, error) {
	var roles []Role
	p := iam.NewListRolesPaginator(c.api, &iam.ListRolesInput{MaxItems: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap("iam:ListRoles", "", err)
		}
		for _, r := range out.Roles {
			role, err := role(r)
			if err != nil {
				return nil, fmt.Errorf("iam:ListRoles: %w", err)
			}
			roles = append(roles, role)
		}
	}
	return roles, nil
}

func role(r types.Role) (Role, error) {
	name := aws.ToString(r.RoleName)
	if r.AssumeRolePolicyDocument == nil {
		return Role{}, fmt.Errorf("role %s: the answer has no trust policy", name)
	}
	doc, err := DecodePolicy(*r.AssumeRolePolicyDocument)
	if err != nil {
		return Role{}, fmt.Errorf("role %s: %w", name, err)
	}
	return Role{Name: name, ARN: aws.ToString(r.Arn), TrustPolicy: doc}, nil
}

// UpdateTrustPolicy replaces the role's trust policy with doc (JSON).
func (c *Client) UpdateTrustPolicy(ctx context.Context, name, doc string) error {
	_, err := c.api.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{
		RoleName: aws.String(name), PolicyDocument: aws.String(doc),
	})
	return wrap("iam:UpdateAssumeRolePolicy", name, err)
}

// AttachedPolicies are the ARNs of the managed policies attached to the
// role (all pages).
func (c *Client) AttachedPolicies(ctx context.Context, name string) ([]string, error) {
	var arns []string
	p := iam.NewListAttachedRolePoliciesPaginator(c.api, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap("iam:ListAttachedRolePolicies", name, err)
		}
		for _, a := range out.AttachedPolicies {
			arns = append(arns, aws.ToString(a.PolicyArn))
		}
	}
	return arns, nil
}

// AttachPolicy attaches the managed policy policyARN to the role.
func (c *Client) AttachPolicy(ctx context.Context, name, policyARN string) error {
	_, err := c.api.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(policyARN)})
	return wrap("iam:AttachRolePolicy", name, err)
}

// DetachPolicy detaches the managed policy policyARN from the role.
func (c *Client) DetachPolicy(ctx context.Context, name, policyARN string) error {
	_, err := c.api.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(policyARN)})
	return wrap("iam:DetachRolePolicy", name, err)
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

// wrap says which call on which role failed; ErrNoSuchRole and
// ErrAccessDenied classify the common cases, and the API error stays in the
// chain (errors.As smithy.APIError).
func wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	what := op
	if name != "" {
		what += " " + name
	}
	var notFound *types.NoSuchEntityException
	if errors.As(err, &notFound) {
		return fmt.Errorf("%s: %w in the account of the AWS credentials (%w)", what, ErrNoSuchRole, err)
	}
	var malformed *types.MalformedPolicyDocumentException
	if errors.As(err, &malformed) {
		return fmt.Errorf("%s: %w: %w", what, ErrMalformedPolicy, err)
	}
	if Denied(err) {
		return fmt.Errorf("%s: %w (the AWS credentials need %s on the role): %w", what, ErrAccessDenied, op, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Denied reports whether an AWS call was refused for lack of permission:
// an AccessDenied error code, or an HTTP 403 answer (moto's permission
// checks answer 403 with an error body the SDK cannot read).
func Denied(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
			return true
		}
	}
	var httpErr *awshttp.ResponseError
	return errors.As(err, &httpErr) && httpErr.HTTPStatusCode() == 403
}

// Code is a short name for what an AWS call answered, for messages: the
// error code and HTTP status ("AccessDenied (HTTP 403)"), or the error.
func Code(err error) string {
	var apiErr smithy.APIError
	var httpErr *awshttp.ResponseError
	switch {
	case errors.As(err, &apiErr) && errors.As(err, &httpErr):
		return fmt.Sprintf("%s (HTTP %d)", apiErr.ErrorCode(), httpErr.HTTPStatusCode())
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode()
	case errors.As(err, &httpErr):
		return fmt.Sprintf("HTTP %d", httpErr.HTTPStatusCode())
	}
	return err.Error()
}
