// Package trustpolicy works out the IAM trust policy a CSPM role needs so
// that Container Security's registry assessment can assume it with the same
// external ID CSPM uses, and merges that into a role's current policy without
// widening it. It is pure: no I/O, documents in, documents out.
//
// The rules:
//   - the role must trust exactly two CrowdStrike principals for this: the
//     CSPM connector principal and the registry-assessment principal of the
//     role's partition, both with "StringEquals": {"sts:ExternalId": <CSPM's ID>};
//   - unrelated statements are never touched; the registry principal is added
//     to the statement that already trusts the CSPM principal with that ID;
//   - a policy that lets anyone ("*") assume the role, or lets a CrowdStrike
//     principal assume it without the external ID, or binds the CSPM principal
//     to a different external ID, is refused: it must be fixed by its owner
//     first, not papered over.
package trustpolicy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Default CSPM connector principals, used only when neither CSPM nor the
// role's trust policy says which principal CSPM assumes the role from.
const (
	DefaultCSPMPrincipalCommercial = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	DefaultCSPMPrincipalGovCloud   = "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCSPMConnector"
)

// StatementSid names the statement this package adds when the policy has no
// statement trusting the CSPM principal with the external ID yet.
const StatementSid = "CrowdStrikeCSPMAndRegistryAssessment"

// crowdStrikeAccounts own CrowdStrike's principals (commercial, GovCloud).
var crowdStrikeAccounts = []string{"292230061137", "358431324613"}

// Source says where the CSPM principal came from.
type Source string

const (
	SourceCSPM    Source = "CSPM account record (intermediate_role_arn)"
	SourcePolicy  Source = "the role's current trust policy (the statement with the same sts:ExternalId)"
	SourceDefault Source = "DEFAULT: neither CSPM nor the role's trust policy names it; verify it is the principal your CSPM registration uses"
)

// Want is what CSPM says about the account.
type Want struct {
	Partition     string // of the CSPM role ARN: "aws" or "aws-us-gov"
	ExternalID    string // CSPM's external ID for the account
	CSPMPrincipal string // CSPM's intermediate_role_arn; "" when CSPM gave none
}

// Principals are the two principals the role must trust.
type Principals struct {
	CSPM       string
	CSPMSource Source
	Registry   string
}

// Analysis is the comparison of a role's trust policy with what it needs.
type Analysis struct {
	Principals
	// Refusals are problems this package will not fix: the owner must.
	// Non-empty means: do not write anything.
	Refusals []string
	// Missing describes each change the merged policy makes.
	Missing []string
	// Before and After are the current and merged documents, pretty-printed
	// the same way so that a line diff shows only real changes.
	Before, After []byte
	// Updated is the compact merged document to write; nil when nothing
	// needs to change or when refused.
	Updated []byte
}

// Correct reports whether the policy already is what the role needs.
func (a *Analysis) Correct() bool { return len(a.Refusals) == 0 && len(a.Missing) == 0 }

// ErrUnsupportedPartition is returned for partitions without known
// CrowdStrike principals (e.g. aws-cn).
var ErrUnsupportedPartition = errors.New("no known CrowdStrike registry-assessment principal for this partition")

// RegistryPrincipal is the registry-assessment principal of a partition.
func RegistryPrincipal(partition string) (string, error) {
	switch partition {
	case "aws", "aws-us-gov":
		return onboard.RegistryAssessmentPrincipal(partition), nil
	}
	return "", fmt.Errorf("partition %q: %w", partition, ErrUnsupportedPartition)
}

// DefaultCSPMPrincipal is the usual CSPM connector principal of a partition.
func DefaultCSPMPrincipal(partition string) (string, error) {
	switch partition {
	case "aws":
		return DefaultCSPMPrincipalCommercial, nil
	case "aws-us-gov":
		return DefaultCSPMPrincipalGovCloud, nil
	}
	return "", fmt.Errorf("partition %q: %w", partition, ErrUnsupportedPartition)
}

func (w Want) validate() error {
	if _, err := RegistryPrincipal(w.Partition); err != nil {
		return err
	}
	if strings.TrimSpace(w.ExternalID) == "" || w.ExternalID != strings.TrimSpace(w.ExternalID) {
		return errors.New("CSPM external ID is empty or padded with whitespace")
	}
	if w.CSPMPrincipal != "" && !strings.HasPrefix(w.CSPMPrincipal, "arn:"+w.Partition+":iam::") {
		return fmt.Errorf("CSPM intermediate_role_arn %q is not an IAM ARN in partition %s", w.CSPMPrincipal, w.Partition)
	}
	return nil
}

// Resolve picks the two principals. currentPolicy may be "" (role not read).
func Resolve(want Want, currentPolicy string) (Principals, error) {
	if err := want.validate(); err != nil {
		return Principals{}, err
	}
	var stmts []*statement
	if currentPolicy != "" {
		d, err := parseDocument(currentPolicy)
		if err != nil {
			return Principals{}, err
		}
		stmts = d.stmts
	}
	return resolve(want, stmts), nil
}

func resolve(want Want, stmts []*statement) Principals {
	reg, _ := RegistryPrincipal(want.Partition)
	if want.CSPMPrincipal != "" {
		return Principals{CSPM: want.CSPMPrincipal, CSPMSource: SourceCSPM, Registry: reg}
	}
	def, _ := DefaultCSPMPrincipal(want.Partition)
	var candidates []string
	for _, s := range stmts {
		if !s.allow || !s.assumeRole || s.wildcard || s.ext.state(want.ExternalID) != extOK {
			continue
		}
		for _, p := range s.aws {
			if p != reg && !slices.Contains(candidates, p) {
				candidates = append(candidates, p)
			}
		}
	}
	// Prefer the usual connector, then any principal in a CrowdStrike
	// account, then whatever the statement trusts.
	slices.SortStableFunc(candidates, func(a, b string) int { return rank(a, def) - rank(b, def) })
	if len(candidates) > 0 {
		return Principals{CSPM: candidates[0], CSPMSource: SourcePolicy, Registry: reg}
	}
	return Principals{CSPM: def, CSPMSource: SourceDefault, Registry: reg}
}

func rank(p, def string) int {
	switch {
	case p == def:
		return 0
	case crowdStrikePrincipal(p):
		return 1
	}
	return 2
}

// Statement is the statement the role needs, as a JSON object.
func Statement(p Principals, externalID string) map[string]any {
	return map[string]any{
		"Sid":       StatementSid,
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": []any{p.CSPM, p.Registry}},
		"Action":    "sts:AssumeRole",
		"Condition": map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalID}},
	}
}

// Document is the complete trust policy the role needs (pretty JSON).
func Document(p Principals, externalID string) []byte {
	return encode(map[string]any{
		"Version":   "2012-10-17",
		"Statement": []any{Statement(p, externalID)},
	}, "  ")
}

// Analyze compares currentPolicy (JSON, already URL-decoded) with what the
// role needs and computes the merged policy.
func Analyze(currentPolicy string, want Want) (*Analysis, error) {
	if err := want.validate(); err != nil {
		return nil, err
	}
	d, err := parseDocument(currentPolicy)
	if err != nil {
		return nil, err
	}
	a := &Analysis{Principals: resolve(want, d.stmts), Before: encode(d.raw, "  ")}
	cspm, reg, id := a.CSPM, a.Registry, want.ExternalID

	var target *statement // trusts the CSPM principal with the external ID
	regOK := false        // registry principal trusted with the external ID
	var stale []*statement
	for _, s := range d.stmts {
		if !s.allow || !s.assumeRole {
			continue
		}
		if s.wildcard {
			a.Refusals = append(a.Refusals, fmt.Sprintf(`%s lets any AWS principal ("*") assume the role: remove that before adding CrowdStrike principals`, s.label()))
			continue
		}
		if s.notPrincipal {
			a.Refusals = append(a.Refusals, fmt.Sprintf("%s allows sts:AssumeRole with NotPrincipal (everyone except the listed principals): remove that first", s.label()))
			continue
		}
		hasCSPM, hasReg := slices.Contains(s.aws, cspm), slices.Contains(s.aws, reg)
		var cs []string
		for _, p := range s.aws {
			if p == cspm || p == reg || crowdStrikePrincipal(p) {
				cs = append(cs, p)
			}
		}
		if len(cs) == 0 {
			continue // unrelated: left exactly as it is
		}
		switch st := s.ext.state(id); st {
		case extMissing, extWeak:
			why := "has no sts:ExternalId condition"
			if st == extWeak {
				why = fmt.Sprintf("does not require the external ID (sts:ExternalId only under %s)", strings.Join(s.ext.ops, ", "))
			}
			a.Refusals = append(a.Refusals, fmt.Sprintf(`%s lets %s assume the role but %s: a role CrowdStrike can assume without its external ID must not be onboarded; add "StringEquals": {"sts:ExternalId": %q} to it first`,
				s.label(), strings.Join(cs, ", "), why, id))
		case extWrong:
			switch {
			case hasCSPM:
				a.Refusals = append(a.Refusals, fmt.Sprintf("%s trusts the CSPM principal %s with sts:ExternalId %s, but CSPM's external ID for this account is %q: fix the CSPM registration or the role first",
					s.label(), cspm, quoteAll(s.ext.values), id))
			case hasReg:
				stale = append(stale, s) // an older registry statement (e.g. ID rotated): moved below
			}
		case extOK:
			if hasCSPM && target == nil {
				target = s
			}
			if hasReg {
				regOK = true
			}
		}
	}

	for _, s := range stale {
		a.Missing = append(a.Missing, fmt.Sprintf("%s trusts the registry-assessment principal with sts:ExternalId %s, not CSPM's %q: remove the principal there",
			s.label(), quoteAll(s.ext.values), id))
		d.removeAWS(s, reg)
	}
	switch {
	case target == nil:
		add := []string{cspm}
		if !regOK {
			add = append(add, reg)
		}
		a.Missing = append(a.Missing, fmt.Sprintf("no statement trusts the CSPM principal %s with sts:ExternalId %q: add statement %q trusting %s",
			cspm, id, StatementSid, strings.Join(add, " and ")))
		st := Statement(a.Principals, id)
		st["Principal"] = map[string]any{"AWS": toAny(add)}
		d.appendStatement(st)
	case !regOK:
		a.Missing = append(a.Missing, fmt.Sprintf("the registry-assessment principal %s is not trusted with sts:ExternalId %q: add it to %s, which trusts the CSPM principal with that ID",
			reg, id, target.label()))
		target.addAWS(reg)
	}

	if len(a.Refusals) > 0 || len(a.Missing) == 0 {
		a.After = a.Before
		return a, nil
	}
	d.sync()
	a.After = encode(d.raw, "  ")
	a.Updated = encode(d.raw, "")
	return a, nil
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// crowdStrikePrincipal reports whether an AWS principal (ARN or bare
// account ID) belongs to one of CrowdStrike's accounts.
func crowdStrikePrincipal(p string) bool {
	acct := p
	if parts := strings.Split(p, ":"); len(parts) >= 6 && parts[0] == "arn" {
		acct = parts[4]
	}
	return slices.Contains(crowdStrikeAccounts, acct)
}
