package trustpolicy

import (
	"fmt"
	"strings"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// The decisions of `ecr-onboard trust-policy` (the CLI keeps the flags, the
// AWS calls and the printing).

// Subject is the account the trust-policy helper works on: CSPM's record of
// it, what CSPM wants of its role, and the role to read or change.
type Subject struct {
	Account onboard.Account
	Want    Want
	// RoleName is the role to read or change: the name in CSPM's role ARN,
	// or the one asked for.
	RoleName string
	// Note says that the role asked for is not the one CSPM uses ("" when
	// it is).
	Note string
}

// Find finds account id in CSPM's listing and judges its record by the
// onboarding's own refusal rules (onboard.Judge), so the helper never
// prepares a role the onboarding would refuse to register. roleName, when
// not empty, is the role to work on instead of CSPM's.
func Find(accounts []onboard.Account, id, roleName string) (Subject, *onboard.Refusal) {
	a, refusal, ok := onboard.Judge(accounts, id)
	switch {
	case !ok:
		return Subject{}, &onboard.Refusal{Reason: "not registered with CrowdStrike CSPM (register it with CSPM first)"}
	case refusal != nil:
		return Subject{Account: a}, refusal
	}
	partition, _, _ := onboard.ParseRoleARN(a.RoleARN) // checked by Judge
	s := Subject{
		Account:  a,
		Want:     Want{Partition: partition, ExternalID: a.ExternalID, CSPMPrincipal: a.CSPMPrincipal},
		RoleName: a.RoleARN[strings.LastIndex(a.RoleARN, "/")+1:],
	}
	if err := s.Want.validate(); err != nil {
		return Subject{Account: a}, &onboard.Refusal{Reason: err.Error()}
	}
	if roleName != "" && roleName != s.RoleName {
		s.Note = fmt.Sprintf("CSPM's role for account %s is %s; registrations use that role, not %s", a.ID, a.RoleARN, roleName)
		s.RoleName = roleName
	}
	return s, nil
}

// Verdict is what the helper concluded about a role's trust policy.
type Verdict int

const (
	Ready   Verdict = iota // nothing to change
	Change                 // Analysis.Updated is to be written
	Refused                // nothing may be written: Reason, or Analysis.Refusals
)

// Decision is the helper's conclusion for a role it read.
type Decision struct {
	Verdict Verdict
	// Analysis is the comparison; nil when the role could not be judged
	// (then Reason says why).
	Analysis *Analysis
	Reason   string
}

// Decide judges the role read with the local AWS credentials (its ARN and
// trust policy) against what CSPM says. A role in another account (the
// credentials are for the wrong account, which may well have a role of that
// name) is refused.
func (s Subject) Decide(roleARN, policy string) Decision {
	if err := s.InAccount(roleARN); err != nil {
		return Decision{Verdict: Refused, Reason: err.Error()}
	}
	a, err := Analyze(policy, s.Want)
	switch {
	case err != nil:
		return Decision{Verdict: Refused, Reason: fmt.Sprintf("role %s: %v", roleARN, err)}
	case len(a.Refusals) > 0:
		return Decision{Verdict: Refused, Analysis: a}
	case a.Correct():
		return Decision{Verdict: Ready, Analysis: a}
	}
	return Decision{Verdict: Change, Analysis: a}
}

// InAccount checks that a role read with the local AWS credentials is in the
// subject's account.
func (s Subject) InAccount(roleARN string) error {
	if _, account, err := onboard.ParseRoleARN(roleARN); err != nil || account != s.Account.ID {
		return fmt.Errorf("role %s is not in account %s: use AWS credentials for account %s", roleARN, s.Account.ID, s.Account.ID)
	}
	return nil
}
