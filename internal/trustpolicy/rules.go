package trustpolicy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
)

// The safety rules, in one place. check applies them to a parsed policy for
// one external ID and one pair of principals; Analyze, Verify and Prepare
// only differ in what they do with the findings.

// findingKind says what a finding is about.
type findingKind int

const (
	// open: anyone, or a CrowdStrike principal without the external ID,
	// may assume the role. Independent of which external ID is wanted.
	open findingKind = iota
	// otherID: a CrowdStrike principal is trusted under an external ID
	// other than CSPM's (or under more than one).
	otherID
	// unwritable: IAM refuses to save the policy as it is (a deleted
	// principal's unique ID): nothing may rewrite it, though it opens
	// nothing.
	unwritable
)

type finding struct {
	kind findingKind
	text string
}

// checked is what check found.
type checked struct {
	findings []finding
	// stale are statements that trust the registry-assessment principal
	// (and no other CrowdStrike principal) under another external ID: an
	// older registry statement. Analyze moves the principal out of them;
	// Verify and Prepare refuse them.
	stale []*statement
	// target is the first statement trusting the CSPM principal with the
	// external ID; regOK: the registry principal is trusted with it.
	target *statement
	regOK  bool
}

// refusals are the texts of the findings of the given kinds (all when none
// is given).
func (c checked) refusals(kinds ...findingKind) []string {
	var out []string
	for _, f := range c.findings {
		if len(kinds) == 0 || slices.Contains(kinds, f.kind) {
			out = append(out, f.text)
		}
	}
	return out
}

// uniqueID matches the unique ID IAM shows in a policy in place of the ARN
// of a deleted IAM role (AROA…) or user (AIDA…): "If someone deletes the
// role, ... the trust policy shows the role's unique ID" (IAM User Guide,
// "AWS JSON policy elements: Principal"; IAM's "Unique identifiers" for the
// prefixes). IAM answers MalformedPolicyDocument ("Invalid principal in
// policy") to any UpdateAssumeRolePolicy whose document still holds one.
var uniqueID = regexp.MustCompile(`^A(ROA|IDA)[A-Z0-9]{12,}$`)

// unwritableFindings names, per statement, the deleted principals that make
// IAM refuse any rewrite of the document, whatever the statement says.
func unwritableFindings(d *document) []finding {
	var out []finding
	for _, s := range d.stmts {
		var ids []string
		for _, p := range append(slices.Clone(s.aws), s.notAWS...) {
			if uniqueID.MatchString(p) {
				ids = append(ids, p)
			}
		}
		if len(ids) > 0 {
			out = append(out, finding{unwritable, fmt.Sprintf(`%s names %s, the unique ID IAM shows in place of a deleted IAM role or user: IAM refuses to save this trust policy while it is there (MalformedPolicyDocument). Remove it from the statement (it lets nobody in any more), then retry`,
				s.label(), strings.Join(ids, ", "))})
		}
	}
	return out
}

// check applies the rules to every statement that allows sts:AssumeRole,
// and the unique-ID rule to every statement.
func check(d *document, p Principals, externalID string) checked {
	c := checked{findings: unwritableFindings(d)}
	add := func(k findingKind, format string, a ...any) {
		c.findings = append(c.findings, finding{k, fmt.Sprintf(format, a...)})
	}
	for _, s := range d.stmts {
		if !s.allow || !s.assumeRole {
			continue
		}
		if s.wildcard {
			add(open, `%s lets any AWS principal ("*") assume the role: restrict it to named principals first`, s.label())
			continue
		}
		if s.notPrincipal {
			add(open, "%s allows sts:AssumeRole with NotPrincipal (everyone except the listed principals): remove that first", s.label())
			continue
		}
		hasCSPM, hasReg := slices.Contains(s.aws, p.CSPM), slices.Contains(s.aws, p.Registry)
		var cs, others []string // CrowdStrike principals; those besides the registry principal
		for _, a := range s.aws {
			if a == p.CSPM || a == p.Registry || crowdstrike.IsCrowdStrike(a) {
				cs = append(cs, a)
				if a != p.Registry {
					others = append(others, a)
				}
			}
		}
		if len(cs) == 0 {
			continue // unrelated: left exactly as it is
		}
		switch st := s.ext.state(externalID); st {
		case extMissing, extWeak:
			why := "has no sts:ExternalId condition"
			if st == extWeak {
				why = fmt.Sprintf("does not require the external ID (sts:ExternalId only under %s)", strings.Join(s.ext.ops(), ", "))
			}
			add(open, `%s lets %s assume the role but %s: a role CrowdStrike can assume without its external ID must not be onboarded; add "StringEquals": {"sts:ExternalId": <CSPM's external ID for this account>} to it first`,
				s.label(), strings.Join(cs, ", "), why)
		case extWrong:
			switch {
			case hasCSPM:
				add(otherID, "%s trusts the CSPM principal %s with another sts:ExternalId than CSPM's for this account (or with more than one): fix the CSPM registration or the role first",
					s.label(), p.CSPM)
			case len(others) > 0:
				add(otherID, "%s lets %s assume the role with another sts:ExternalId than CSPM's for this account (or with more than one): fix the role first",
					s.label(), strings.Join(others, ", "))
			case hasReg:
				c.stale = append(c.stale, s)
			}
		case extOK:
			if hasCSPM && c.target == nil {
				c.target = s
			}
			if hasReg {
				c.regOK = true
			}
		}
	}
	return c
}

// Verify judges a role's trust policy for VERIFY_TRUST: it returns why the
// policy lets a CrowdStrike principal (CSPM's connector, the registry-
// assessment principal, any principal in a CrowdStrike account) or anyone
// else assume the role without want.ExternalID; none means the role is safe
// to register. A policy it cannot parse is an error (and must be refused by
// the caller). The texts never contain an external ID.
func Verify(policy string, want Want) ([]string, error) {
	if err := want.validate(); err != nil {
		return nil, err
	}
	d, err := parseDocument(policy)
	if err != nil {
		return nil, err
	}
	c := check(d, resolve(want, d.stmts), want.ExternalID)
	// A deleted principal lets nobody in: no reason to refuse the account.
	refusals := c.refusals(open, otherID)
	for _, s := range c.stale {
		refusals = append(refusals, fmt.Sprintf("%s lets the registry-assessment principal assume the role with another sts:ExternalId than CSPM's for this account: move it to the CSPM statement (member stack update, or ecr-onboard trust-policy --apply)",
			s.label()))
	}
	return refusals, nil
}
