// Package crowdstrike is the one table of CrowdStrike's AWS principals, per
// AWS partition: the account CrowdStrike's roles live in, CSPM's connector
// role (the principal a CSPM role trusts with its external ID) and Container
// Security's registry-assessment role (the principal image assessment assumes
// customer roles from). Everything that needs one of them asks here.
//
// A partition that is not in the table has no CrowdStrike principals as far
// as this tool knows (aws-cn today): asking for it is an error, never a
// fallback to the commercial principals. The package has no dependencies.
package crowdstrike

import (
	"fmt"
	"strings"
)

// Principals are CrowdStrike's principals in one partition.
type Principals struct {
	Partition string
	// Account is the AWS account CrowdStrike's roles are in.
	Account string
	// CSPMConnector is the role CSPM assumes customers' CSPM roles from
	// (CSPM's intermediate_role_arn, unless CSPM says otherwise).
	CSPMConnector string
	// RegistryAssessment is the role Container Security's image assessment
	// assumes a registry's role from.
	RegistryAssessment string
}

// table: commercial and GovCloud. There is no entry for aws-cn (or any other
// partition) on purpose: CrowdStrike publishes no principals there.
var table = []Principals{
	{
		Partition:          "aws",
		Account:            "292230061137",
		CSPMConnector:      "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector",
		RegistryAssessment: "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole",
	},
	{
		Partition:          "aws-us-gov",
		Account:            "358431324613",
		CSPMConnector:      "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCSPMConnector",
		RegistryAssessment: "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCustomerRegistryAssessmentRole",
	},
}

// NoPrincipalsError is the answer for a partition without CrowdStrike
// principals.
type NoPrincipalsError struct{ Partition string }

func (e *NoPrincipalsError) Error() string {
	return fmt.Sprintf("partition %q has no known CrowdStrike principals (Container Security registry assessment is available in %s)",
		e.Partition, strings.Join(Partitions(), " and "))
}

// For returns CrowdStrike's principals in partition, or a *NoPrincipalsError.
func For(partition string) (Principals, error) {
	for _, p := range table {
		if p.Partition == partition {
			return p, nil
		}
	}
	return Principals{}, &NoPrincipalsError{Partition: partition}
}

// RegistryAssessmentPrincipal is the registry-assessment principal of
// partition; ok is false for a partition without one (then there is no
// principal to trust, and nothing may be assumed on the partition's behalf).
func RegistryAssessmentPrincipal(partition string) (arn string, ok bool) {
	p, err := For(partition)
	return p.RegistryAssessment, err == nil
}

// Partitions lists the partitions with CrowdStrike principals.
func Partitions() []string {
	out := make([]string, len(table))
	for i, p := range table {
		out[i] = p.Partition
	}
	return out
}

// IsCrowdStrike reports whether an AWS principal (an ARN, or a bare account
// ID) belongs to one of CrowdStrike's accounts, in any partition.
func IsCrowdStrike(principal string) bool {
	account := principal
	if parts := strings.Split(principal, ":"); len(parts) >= 6 && parts[0] == "arn" {
		account = parts[4]
	}
	for _, p := range table {
		if p.Account == account {
			return true
		}
	}
	return false
}
