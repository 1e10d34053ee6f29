package onboard

import (
	"fmt"
	"regexp"
	"strings"
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
	// RecordMissing: CSPM listed the account but did not return its record
	// (a 207 answer, asked twice). Nothing is known of it but its ID: it is
	// skipped, and its registrations are never pruned.
	RecordMissing bool

	refused string // set by a run's checks beyond CSPM data (VERIFY_TRUST)
}

// Refusal says why an account is not onboarded; a nil *Refusal means
// eligible.
type Refusal struct{ Reason string }

// Skip is an account left out of a run, and why.
type Skip struct {
	AccountID string `json:"account_id"`
	Reason    string `json:"reason"`
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

// check returns why an account cannot be onboarded on its own merits, or "".
// These are the confused-deputy rules: the credential must belong to the
// account it is used for. Uniqueness across accounts is checked by eligible.
func (a Account) check() string {
	if a.refused != "" {
		return a.refused
	}
	if a.RecordMissing {
		return "CSPM did not return this account's record (listed, but missing from the entity answer twice)"
	}
	if !ValidAccountID(a.ID) {
		return fmt.Sprintf("account_id %q is not a 12-digit AWS account ID", a.ID)
	}
	if strings.TrimSpace(a.RoleARN) == "" {
		return "CSPM has no IAM role ARN for this account"
	}
	partition, arnAccount, err := ParseRoleARN(a.RoleARN)
	if err != nil {
		return "CSPM role ARN is malformed (want arn:<partition>:iam::<account>:role/<name>)"
	}
	if arnAccount != a.ID {
		return fmt.Sprintf("CSPM role ARN belongs to account %s, not %s (possible confused deputy)", arnAccount, a.ID)
	}
	if want, ok := accountTypePartition(a.Type); ok && want != partition {
		return fmt.Sprintf("CSPM role ARN partition %q does not match account_type %q", partition, a.Type)
	}
	if strings.TrimSpace(a.ExternalID) == "" {
		return "CSPM has no external ID for this account"
	}
	if a.ExternalID != strings.TrimSpace(a.ExternalID) {
		return "CSPM external ID has surrounding whitespace"
	}
	for _, r := range a.Regions {
		if !ValidRegion(r) {
			return fmt.Sprintf("CSPM active region %q is not a valid AWS region name", r)
		}
	}
	return ""
}
