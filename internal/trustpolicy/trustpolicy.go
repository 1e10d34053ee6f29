// Package trustpolicy holds the rules for a CSPM role's IAM trust policy:
// Container Security's registry assessment may assume the role with the same
// external ID CSPM uses, and nobody may assume it without one. It is pure:
// documents in, documents and verdicts out, no I/O.
//
// The safety rules live in one place (rules.go) and serve three callers:
//   - Analyze: the CLI helper (`ecr-onboard trust-policy`), which knows
//     CSPM's external ID and merges what is missing into the policy;
//   - Verify: VERIFY_TRUST, which reads the policy in the member account and
//     refuses an account whose policy lets CrowdStrike in without it;
//   - Prepare / Revert: the member-account setup (custom resource), which
//     reads the external ID from the role's own CSPM statement, adds the
//     registry-assessment principal to that statement, and takes it away again.
//
// The rules: a statement that lets anyone ("*", or NotPrincipal) assume the
// role, or lets a CrowdStrike principal assume it without a StringEquals
// sts:ExternalId condition equal to CSPM's external ID, is refused: its owner
// must fix it first, nothing here papers over it. Unrelated statements are
// never touched, and nothing beyond the CSPM connector principal and the
// registry-assessment principal of the role's partition is ever added.
// Refusal texts never contain an external ID.
package trustpolicy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
)

// StatementSid names the statement this package adds when the policy has no
// statement trusting the CSPM principal with the external ID yet.
const StatementSid = "CrowdStrikeCSPMAndRegistryAssessment"

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

func (w Want) validate() error {
	if _, err := crowdstrike.For(w.Partition); err != nil {
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

// resolve: CSPM's own answer, else the principal the policy already trusts
// with the external ID, else the partition's usual connector. want is valid.
func resolve(want Want, stmts []*statement) Principals {
	cs, _ := crowdstrike.For(want.Partition)
	reg := cs.RegistryAssessment
	if want.CSPMPrincipal != "" {
		return Principals{CSPM: want.CSPMPrincipal, CSPMSource: SourceCSPM, Registry: reg}
	}
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
	rank := func(p string) int {
		switch {
		case p == cs.CSPMConnector:
			return 0
		case crowdstrike.IsCrowdStrike(p):
			return 1
		}
		return 2
	}
	slices.SortStableFunc(candidates, func(a, b string) int { return rank(a) - rank(b) })
	if len(candidates) > 0 {
		return Principals{CSPM: candidates[0], CSPMSource: SourcePolicy, Registry: reg}
	}
	return Principals{CSPM: cs.CSPMConnector, CSPMSource: SourceDefault, Registry: reg}
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
	r := check(d, a.Principals, want.ExternalID)
	a.Refusals = r.refusals()
	if len(a.Refusals) > 0 {
		a.After = a.Before
		return a, nil
	}

	for _, s := range r.stale {
		a.Missing = append(a.Missing, fmt.Sprintf("%s trusts the registry-assessment principal with another sts:ExternalId than CSPM's for this account: remove the principal there",
			s.label()))
		d.removeAWS(s, a.Registry, false)
	}
	switch {
	case r.target == nil:
		add := []string{a.CSPM}
		if !r.regOK {
			add = append(add, a.Registry)
		}
		a.Missing = append(a.Missing, fmt.Sprintf("no statement trusts the CSPM principal %s with CSPM's sts:ExternalId: add statement %q trusting %s",
			a.CSPM, StatementSid, strings.Join(add, " and ")))
		st := Statement(a.Principals, want.ExternalID)
		st["Principal"] = map[string]any{"AWS": toAny(add)}
		d.appendStatement(st)
	case !r.regOK:
		a.Missing = append(a.Missing, fmt.Sprintf("the registry-assessment principal %s is not trusted with CSPM's sts:ExternalId: add it to %s, which trusts the CSPM principal with that ID",
			a.Registry, r.target.label()))
		r.target.addAWS(a.Registry)
	}

	if len(a.Missing) == 0 {
		a.After = a.Before
		return a, nil
	}
	d.sync()
	a.After = encode(d.raw, "  ")
	a.Updated = encode(d.raw, "")
	return a, nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
