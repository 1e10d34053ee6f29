package awsapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

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
type TrustReader struct {
	// STS is the function's own STS client.
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
	out, err := r.STS.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(reader),
		RoleSessionName: aws.String(ReaderSession),
		DurationSeconds: aws.Int32(900),
	})
	if err == nil && (out.Credentials == nil || out.Credentials.AccessKeyId == nil) {
		err = fmt.Errorf("the answer has no credentials")
	}
	if err != nil {
		return refuse("cannot assume %s: %s — deploy the member stack (deploy/member/template.yaml) in account %s with TrustReader=true and OnboardingRoleArn set to this function's role",
			reader, iamrole.Code(err), a.ID)
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
