package awsapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

// TrustReader implements onboard.TrustVerifier (VERIFY_TRUST) by reading
// the CSPM role's trust policy in its own account: it assumes the account's
// trust-reader role (deployed by the member stack, deploy/member; assumable
// only by this function's role, allowed iam:GetRole on the CSPM role alone),
// reads the policy, and judges it with trustpolicy.Verify against CSPM's
// external ID for the account. Two calls per account checked:
// sts:AssumeRole and iam:GetRole. No external ID is sent or logged.
//
// The reader is assumed through STS in the partition's IAM region
// (iamrole.Region: us-east-1, us-gov-west-1, cn-north-1), whatever region
// the function runs in. STS issues credentials for a role only in a region
// active in the role's account, and in an opt-in region (af-south-1,
// ap-east-1, …) only for accounts that enabled it (IAM User Guide, "Manage
// AWS STS in an AWS Region"): from a function in an opt-in region, every
// member account that did not opt in would be refused. us-east-1's STS is
// active in every account and cannot be deactivated (IAM User Guide, "AWS
// STS Regions and endpoints"); its credentials are valid in every region,
// and the IAM call they make goes to that same region.
type TrustReader struct {
	// STS is the function's own STS client (its region is overridden for
	// the reader's AssumeRole).
	STS STS
	// AWS is the base configuration of the member-account IAM clients
	// (endpoint, retries, HTTP client); the reader role's credentials
	// replace its own.
	AWS aws.Config
	// RoleName is the trust-reader role's name (TRUST_READER_ROLE).
	RoleName string
	// HomePartition is the partition the function runs in ("" unknown):
	// roles in another partition cannot be assumed from it.
	HomePartition string
}

// ReaderSession names the reader's sessions (in CloudTrail of the member account).
const ReaderSession = "ecr-onboard-verify-trust"

// VerifyTrust implements onboard.TrustVerifier. Each refusal says which
// step failed: the reader role could not be assumed, the trust policy could
// not be read (or evaluated), or the policy lets CrowdStrike in without
// CSPM's external ID.
func (r TrustReader) VerifyTrust(ctx context.Context, a onboard.Account) *onboard.Refusal {
	refuse := func(format string, args ...any) *onboard.Refusal {
		reason := "VERIFY_TRUST: " + fmt.Sprintf(format, args...)
		if a.ExternalID != "" { // never, but an echo from AWS must not carry it
			reason = strings.ReplaceAll(reason, a.ExternalID, "[external-id]")
		}
		return &onboard.Refusal{Reason: reason}
	}
	partition, account, err := onboard.ParseRoleARN(a.RoleARN)
	switch {
	case err != nil || account != a.ID:
		return refuse("CSPM's role ARN is not a role of account %s: nothing to read", a.ID)
	case r.HomePartition != "" && partition != r.HomePartition:
		return refuse("the CSPM role is in partition %s and this function runs in %s: its trust policy cannot be read from here", partition, r.HomePartition)
	}

	reader := fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, a.ID, r.RoleName)
	region := iamrole.Region(partition)
	out, err := r.STS.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(reader),
		RoleSessionName: aws.String(ReaderSession),
		DurationSeconds: aws.Int32(900),
	}, func(o *sts.Options) { o.Region = region })
	if err == nil && (out.Credentials == nil || out.Credentials.AccessKeyId == nil) {
		err = fmt.Errorf("the answer has no credentials")
	}
	if err != nil {
		return refuse("cannot assume %s: %s", reader, assumeFailure(err, region, a.ID))
	}

	cfg := r.AWS.Copy()
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	role, err := iamrole.NewFromConfig(cfg, partition).GetRole(ctx, iamrole.RoleName(a.RoleARN))
	switch {
	case err != nil:
		return refuse("cannot read the trust policy of %s as %s: %s — the member stack's reader may read only the role it prepared: check its CspmRoleName against CSPM's role, and that the role exists",
			a.RoleARN, r.RoleName, iamrole.Code(err))
	case role.ARN != a.RoleARN:
		return refuse("cannot read the trust policy of %s: the account's role of that name is %s (CSPM's role ARN has another path)", a.RoleARN, role.ARN)
	}
	refusals, err := trustpolicy.Verify(role.TrustPolicy, trustpolicy.Want{Partition: partition, ExternalID: a.ExternalID, CSPMPrincipal: a.CSPMPrincipal})
	switch {
	case err != nil:
		return refuse("cannot evaluate the trust policy of %s: %v", a.RoleARN, err)
	case len(refusals) > 0:
		return refuse("the trust policy of %s lets CrowdStrike (or anyone) in without CSPM's external ID for this account: %s",
			a.RoleARN, strings.Join(refusals, "; "))
	}
	return nil
}

// assumeFailure says why the reader could not be assumed, and what fixes
// it. Only a refusal of the role itself is the member stack's to fix.
func assumeFailure(err error, region, account string) string {
	var disabled *ststypes.RegionDisabledException
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &disabled):
		return fmt.Sprintf("STS in %s is not active for account %s (%s) — activate it in that account (IAM, Account settings, "+
			"Security Token Service endpoints); the member stack cannot fix this", region, account, iamrole.Code(err))
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidClientTokenId":
		return fmt.Sprintf("STS in %s refused this function's own credentials (%s), so no member account could be read; "+
			"the member stack cannot fix this", region, iamrole.Code(err))
	}
	return fmt.Sprintf("%s — deploy the member stack (deploy/member/template.yaml) in account %s with TrustReader=true and "+
		"OnboardingRoleArn set to this function's role", iamrole.Code(err), account)
}
