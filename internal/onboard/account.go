package onboard

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
)

// Account is an AWS account as CrowdStrike CSPM knows it. RoleARN and
// ExternalID are the credential CSPM itself assumes the account with; they are
// the only credential this tool ever registers for the account.
type Account struct {
	ID             string
	Name           string
	Type           string // CSPM account_type, e.g. "commercial" or "gov"
	OrganizationID string
	RoleARN        string
	ExternalID     string
	Regions        []string // CSPM active_regions
	// CSPMPrincipal is CrowdStrike's role that CSPM assumes RoleARN from
	// (resource_metadata.intermediate_role_arn), when CSPM says.
	CSPMPrincipal string
	// RegistrationStatus is CSPM's registration_status of the account, as
	// CSPM returned it; see onboardingUnfinished for the values that make
	// the account wait.
	RegistrationStatus string
	// RegisteredAt is when CSPM registered the account (its record's
	// created_at); zero when CSPM does not say.
	RegisteredAt time.Time
	// RecordMissing: CSPM listed the account but did not return its record
	// (a 207 answer, asked twice). Nothing is known of it but its ID: it is
	// skipped, and its registrations are never pruned.
	RecordMissing bool
}

// Refusal says why an account is not onboarded; a nil *Refusal means
// eligible. Action says what it needs; empty is SkipFix (a person must fix
// it), so a refusal nobody classified never passes for harmless.
type Refusal struct {
	Reason string
	Action SkipAction
}

// Skip is an account left out of a run, why, and what it needs (Action:
// "fix", "wait" or "none").
type Skip struct {
	AccountID string     `json:"account_id"`
	Reason    string     `json:"reason"`
	Action    SkipAction `json:"action"`
}

// skip is the report entry of account id refused for r.
func (r *Refusal) skip(id string) Skip {
	action := r.Action
	if action == "" {
		action = SkipFix
	}
	return Skip{AccountID: id, Reason: r.Reason, Action: action}
}

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	// arn:PARTITION:iam::ACCOUNT:role/PATH/NAME
	roleARNPattern = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn):iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}$`)
)

// ValidAccountID reports whether s is a 12-digit AWS account ID.
func ValidAccountID(s string) bool { return accountIDPattern.MatchString(s) }

// ValidRegion reports whether s looks like an AWS region name (us-east-1, us-gov-west-1, cn-north-1).
func ValidRegion(s string) bool { return regionPattern.MatchString(s) }

// ParseRoleARN returns the partition and account of an IAM role ARN.
func ParseRoleARN(arn string) (partition, account string, err error) {
	m := roleARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return "", "", fmt.Errorf("malformed IAM role ARN %q", arn)
	}
	return m[1], m[2], nil
}

// Partition is the AWS partition a region belongs to.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	default:
		return "aws"
	}
}

// accountTypePartition maps CSPM's account_type to the partition its role
// must live in; unknown types are not checked.
func accountTypePartition(accountType string) (string, bool) {
	switch strings.ToLower(accountType) {
	case "commercial":
		return "aws", true
	case "gov", "govcloud", "gov-cloud":
		return "aws-us-gov", true
	case "china":
		return "aws-cn", true
	}
	return "", false
}

// onboardingUnfinished reports whether CSPM's registration_status says CSPM
// registered the account but has not finished onboarding it: its CSPM role
// is not deployed (or not verified) yet, so no credential of it works.
//
// No CrowdStrike client documents the values of registration_status itself
// (gofalcon v0.22.0 models.DomainCloudAWSAccountV1 says only "registration
// status"; falconpy, the Terraform provider and terraform-aws-cloud-registration
// never read it). What they do document is the account status of the same
// registration, in two words, "provisioned" and "operational":
//   - the account-status filter of this very listing (GET
//     /cloud-security-registration-aws/queries/account/v1) takes exactly those
//     (CrowdStrike/falconpy src/falconpy/_endpoint/_cloud_aws_registration.py,
//     lines 227-235: "enum": ["provisioned", "operational"], "Account status to filter
//     results by."; gofalcon CloudRegistrationAwsQueryAccountsParams.AccountStatus);
//   - the older CSPM registration API spells them
//     Event_DiscoverAccountStatusProvisioned and
//     Event_DiscoverAccountStatusOperational, and "a properly provisioned AWS
//     account will display the status 'Event_DiscoverAccountStatusOperational'"
//     (CrowdStrike/psfalcon public/cloud-connect-cspm-aws.ps1, line 89;
//     gofalcon examples/falcon_cspm_aws_accounts/README.md, lines 17-19);
//   - a registered account whose resources are not deployed or not yet
//     healthy is "registered but not yet onboarded", Inactive in the console
//     (CrowdStrike/lab-aws-cspm-registration guide/chapter1.md).
//
// So "provisioned" (either spelling, any case) waits. Every other value,
// "operational", empty or one no client documents, is usable, as before:
// refusing on a guess would skip healthy accounts.
func onboardingUnfinished(status string) bool {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "provisioned", "event_discoveraccountstatusprovisioned":
		return true
	}
	return false
}

// check returns why CSPM's record of an account cannot be used on its own
// merits, or nil: the confused-deputy rules (the credential must belong to
// the account it is used for), then whether Container Security can use the
// account yet (a registry-assessment principal in its partition, CSPM's
// onboarding finished). Rules across accounts are judge's.
func (a Account) check() *Refusal {
	refuse := func(format string, args ...any) *Refusal { return &Refusal{Reason: fmt.Sprintf(format, args...)} }
	if a.RecordMissing {
		return refuse("CSPM did not return this account's record (listed, but missing from the entity answer twice)")
	}
	if !ValidAccountID(a.ID) {
		return refuse("account_id %q is not a 12-digit AWS account ID", a.ID)
	}
	if strings.TrimSpace(a.RoleARN) == "" {
		return refuse("CSPM has no IAM role ARN for this account")
	}
	partition, arnAccount, err := ParseRoleARN(a.RoleARN)
	if err != nil {
		return refuse("CSPM role ARN is malformed (want arn:<partition>:iam::<account>:role/<name>)")
	}
	if arnAccount != a.ID {
		return refuse("CSPM role ARN belongs to account %s, not %s (possible confused deputy)", arnAccount, a.ID)
	}
	if want, ok := accountTypePartition(a.Type); ok && want != partition {
		return refuse("CSPM role ARN partition %q does not match account_type %q", partition, a.Type)
	}
	if _, ok := crowdstrike.RegistryAssessmentPrincipal(partition); !ok {
		r := refuse("Container Security has no registry-assessment principal in partition %q: it cannot assess this account's registries", partition)
		r.Action = SkipNone // nobody can fix this: not desired, raises nothing
		return r
	}
	if onboardingUnfinished(a.RegistrationStatus) {
		r := refuse("CSPM has not finished onboarding this account (registration_status %q): its CSPM role is not deployed yet", a.RegistrationStatus)
		r.Action = SkipWait // CSPM's own deployment is on its way
		return r
	}
	if strings.TrimSpace(a.ExternalID) == "" {
		return refuse("CSPM has no external ID for this account")
	}
	if a.ExternalID != strings.TrimSpace(a.ExternalID) {
		return refuse("CSPM external ID has surrounding whitespace")
	}
	for _, r := range a.Regions {
		if !ValidRegion(r) {
			return refuse("CSPM active region %q is not a valid AWS region name", r)
		}
	}
	return nil
}

// judged is an account, its CSPM records collapsed into one, and what
// CSPM's own data says of it (nil: nothing against it).
type judged struct {
	Account
	refusal *Refusal
}

// judge collapses CSPM's records into accounts and judges each by CSPM's own
// data, the confused-deputy rules (README, "What a run does"), over all of
// CSPM's accounts whatever the scope: records of one account with the same
// credential are one account (their regions joined); records of one account
// that disagree on the credential refuse it. Sorted by account ID.
//
// An external ID shared by several accounts is not a refusal: CSPM registers
// an AWS Organization with one external ID and one role name for every
// member (CrowdStrike/terraform-aws-cloud-registration), and every account
// of one Falcon tenant is the same customer's. What keeps the tool from
// being a confused deputy is the binding per record (check): URL, role ARN
// and external ID all from one record whose role ARN is in that account.
func judge(records []Account) []judged {
	byID := map[string][]Account{}
	for _, r := range records {
		byID[r.ID] = append(byID[r.ID], r)
	}
	out := make([]judged, 0, len(byID))
	for _, rs := range byID {
		a := rs[0]
		a.Regions = slices.Clone(a.Regions)
		conflict := false
		for _, r := range rs[1:] {
			conflict = conflict || r.RoleARN != a.RoleARN || r.ExternalID != a.ExternalID || r.RecordMissing != a.RecordMissing
			a.Regions = append(a.Regions, r.Regions...)
		}
		j := judged{Account: a, refusal: a.check()}
		if conflict {
			j.refusal = &Refusal{Reason: fmt.Sprintf("CSPM lists this account %d times with different credentials", len(rs))}
		}
		out = append(out, j)
	}
	slices.SortFunc(out, func(x, y judged) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// Judge finds account id in CSPM's records and judges it by the rules a run
// skips accounts by (judge). ok is false when CSPM does not list id.
func Judge(records []Account, id string) (a Account, r *Refusal, ok bool) {
	for _, j := range judge(records) {
		if j.ID == id {
			return j.Account, j.refusal, true
		}
	}
	return Account{}, nil, false
}
