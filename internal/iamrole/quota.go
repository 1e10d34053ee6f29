package iamrole

import (
	"context"
	"fmt"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// IAM's quotas on what is written to a role, known before writing: IAM
// refuses a write over them (LimitExceeded, "Cannot exceed quota for
// ACLSizePerRole: 2048"), and a write that can never succeed is better
// refused up front, saying which quota and what to do, than sent again on
// every repair. The facts, from the IAM User Guide, "IAM and AWS STS
// quotas" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
//   - "Role trust policy length" (ACLSizePerRole): 2,048 characters by
//     default, up to 4,096 by a quota increase; "IAM does not count white
//     space when calculating the size of a policy against these quotas";
//   - "Managed policies per role" (PoliciesPerRole): 10 by default, up to 20;
//   - an account's own values are GetAccountSummary's SummaryMap entries
//     AssumeRolePolicySizeQuota and AttachedPoliciesPerRoleQuota.

// Quotas are an account's IAM quotas on a role's trust policy and attached
// managed policies.
type Quotas struct {
	// TrustPolicySize is the most characters a role's trust policy may
	// have, whitespace not counted (AssumeRolePolicySizeQuota).
	TrustPolicySize int
	// PoliciesPerRole is the most managed policies a role may have
	// attached (AttachedPoliciesPerRoleQuota).
	PoliciesPerRole int
}

// The largest values a quota increase allows (IAM User Guide, "IAM and AWS
// STS quotas"), for the remedies' wording.
const (
	maxTrustPolicySize = 4096
	maxPoliciesPerRole = 20
)

// Quotas reads the account's quotas (iam:GetAccountSummary). A summary
// without either value is an error: nothing is written on a guess.
func (c *Client) Quotas(ctx context.Context) (Quotas, error) {
	out, err := c.api.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		return Quotas{}, wrap("iam:GetAccountSummary", "", err)
	}
	q := Quotas{TrustPolicySize: int(out.SummaryMap["AssumeRolePolicySizeQuota"]), PoliciesPerRole: int(out.SummaryMap["AttachedPoliciesPerRoleQuota"])}
	if q.TrustPolicySize <= 0 || q.PoliciesPerRole <= 0 {
		return Quotas{}, fmt.Errorf("iam:GetAccountSummary: the answer lacks AssumeRolePolicySizeQuota or AttachedPoliciesPerRoleQuota (%v)", out.SummaryMap)
	}
	return q, nil
}

// PolicySize is the size of a policy document as IAM counts it against its
// quotas: its characters, whitespace not counted.
func PolicySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// QuotaError says that a write to a role would exceed one of the account's
// IAM quotas; nothing was written.
type QuotaError struct {
	Role string
	// Quota is IAM's name for it: "ACLSizePerRole" or "PoliciesPerRole".
	Quota string
	// Size is what the role would have (characters, or managed policies);
	// Limit the account's quota.
	Size, Limit int
}

func (e *QuotaError) Error() string {
	switch e.Quota {
	case "ACLSizePerRole":
		return fmt.Sprintf("the trust policy of role %s would be %d characters (whitespace not counted), over this account's IAM quota of %d (ACLSizePerRole, "+
			"\"Role trust policy length\" in Service Quotas): shorten the trust policy (remove statements or principals no longer needed), "+
			"or request an increase of that quota (up to %d) in Service Quotas",
			e.Role, e.Size, e.Limit, maxTrustPolicySize)
	default:
		return fmt.Sprintf("role %s has %d managed policies attached, this account's IAM quota (PoliciesPerRole, \"Managed policies per role\" in Service Quotas) is %d: "+
			"detach a policy the role no longer needs, or request an increase of that quota (up to %d) in Service Quotas",
			e.Role, e.Size, e.Limit, maxPoliciesPerRole)
	}
}

// CheckTrustPolicy refuses doc as the trust policy of role when it is over
// the quota (a *QuotaError).
func (q Quotas) CheckTrustPolicy(role, doc string) error {
	if n := PolicySize(doc); n > q.TrustPolicySize {
		return &QuotaError{Role: role, Quota: "ACLSizePerRole", Size: n, Limit: q.TrustPolicySize}
	}
	return nil
}

// CheckAttach refuses attaching one more managed policy to role, which has
// attached policies attached, when the quota allows no more (a *QuotaError).
func (q Quotas) CheckAttach(role string, attached int) error {
	if attached >= q.PoliciesPerRole {
		return &QuotaError{Role: role, Quota: "PoliciesPerRole", Size: attached, Limit: q.PoliciesPerRole}
	}
	return nil
}
