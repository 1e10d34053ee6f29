package trustpolicy

import (
	"fmt"
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

// refusals are the findings' texts, open ones only when openOnly.
func (c checked) refusals(openOnly bool) []string {
	var out []string
	for _, f := range c.findings {
		if !openOnly || f.kind == open {
			out = append(out, f.text)
		}
	}
	return out
}

// check applies the rules to every statement that allows sts:AssumeRole.
func check(d *document, p Principals, externalID string) checked {
	var c checked
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
	refusals := c.refusals(false)
	for _, s := range c.stale {
		refusals = append(refusals, fmt.Sprintf("%s lets the registry-assessment principal assume the role with another sts:ExternalId than CSPM's for this account: move it to the CSPM statement (member stack update, or ecr-onboard trust-policy --apply)",
			s.label()))
	}
	return refusals, nil
}
