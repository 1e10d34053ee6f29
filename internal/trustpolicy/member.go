package trustpolicy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
)

// The member-account setup (deploy/member, internal/membersetup) works without
// CSPM's record: the external ID is the one the role's own CSPM statement
// already requires, read from the policy, never configured. It adds the
// registry-assessment principal to that statement and nothing else, so that
// Revert can take exactly that away again.

// ConnectorTrust is how a role's trust policy trusts CrowdStrike's CSPM
// connector principal.
type ConnectorTrust int

const (
	NotConnector               ConnectorTrust = iota // does not trust the connector
	ConnectorWithExternalID                          // trusts it under an sts:ExternalId condition (a CSPM role)
	ConnectorWithoutExternalID                       // trusts it without any sts:ExternalId condition (refused)
)

// TrustsConnector says how policy trusts the CSPM connector principal of
// partition (an Allow statement for sts:AssumeRole naming it). A policy with
// a statement under the condition and one without counts as under the
// condition: it is a candidate, and Prepare refuses it by name.
func TrustsConnector(policy, partition string) (ConnectorTrust, error) {
	cs, err := crowdstrike.For(partition)
	if err != nil {
		return NotConnector, err
	}
	d, err := parseDocument(policy)
	if err != nil {
		return NotConnector, err
	}
	trust := NotConnector
	for _, s := range connectorStatements(d, cs.CSPMConnector) {
		if len(s.ext.entries) > 0 {
			return ConnectorWithExternalID, nil
		}
		trust = ConnectorWithoutExternalID
	}
	return trust, nil
}

func connectorStatements(d *document, connector string) []*statement {
	var out []*statement
	for _, s := range d.stmts {
		if s.allow && s.assumeRole && slices.Contains(s.aws, connector) {
			out = append(out, s)
		}
	}
	return out
}

// Addition says how the registry-assessment principal was added to the CSPM
// statement, so that Revert restores the statement's exact shape.
type Addition int

const (
	NotAdded      Addition = iota // it was trusted with the external ID already: nothing written
	AddedToString                 // Principal.AWS was one string; it became a list of two
	AddedToList                   // appended to Principal.AWS's list
)

var additionNames = []string{NotAdded: "not-added", AddedToString: "added-to-string", AddedToList: "added-to-list"}

func (a Addition) String() string {
	if int(a) < len(additionNames) && a >= 0 {
		return additionNames[a]
	}
	return fmt.Sprintf("Addition(%d)", int(a))
}

// MarshalText writes an Addition by name ("added-to-string", ...), so that
// what is kept of it reads as what it is.
func (a Addition) MarshalText() ([]byte, error) {
	if a < 0 || int(a) >= len(additionNames) {
		return nil, fmt.Errorf("no such Addition: %d", int(a))
	}
	return []byte(additionNames[a]), nil
}

// UnmarshalText reads a name MarshalText writes.
func (a *Addition) UnmarshalText(b []byte) error {
	i := slices.Index(additionNames, string(b))
	if i < 0 {
		return fmt.Errorf("no such Addition: %q", b)
	}
	*a = Addition(i)
	return nil
}

// Preparation is the member setup's decision for one CSPM role.
type Preparation struct {
	// Principals are the partition's CSPM connector and registry-assessment
	// principals (CSPMSource SourcePolicy).
	Principals
	// Refusals are problems the role's owner must fix first; non-empty
	// means nothing is written. They name statements, never the ID.
	Refusals []string
	// Addition is what Updated does; NotAdded with no refusal: the role is
	// ready as it is.
	Addition Addition
	// Updated is the compact document to write; nil when nothing is.
	Updated []byte
}

// Prepare decides what the member setup does to a CSPM role's trust policy:
// take the external ID from the statement trusting the partition's CSPM
// connector principal, apply the rules with it, and add the registry-
// assessment principal to that same statement (so it takes the same
// condition). A statement moving the registry principal out of another
// statement (under another ID) is refused rather than done: Revert could not
// put it back.
func Prepare(policy, partition string) (*Preparation, error) {
	cs, err := crowdstrike.For(partition)
	if err != nil {
		return nil, err
	}
	d, err := parseDocument(policy)
	if err != nil {
		return nil, err
	}
	p := &Preparation{Principals: Principals{CSPM: cs.CSPMConnector, CSPMSource: SourcePolicy, Registry: cs.RegistryAssessment}}

	var ids, labels []string
	for _, s := range connectorStatements(d, cs.CSPMConnector) {
		if id, ok := s.ext.pinned(); ok && !s.wildcard {
			labels = append(labels, s.label())
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	switch len(ids) {
	case 0:
		p.Refusals = append(check(d, p.Principals, "").refusals(open, unwritable),
			fmt.Sprintf(`no statement lets the CSPM connector %s assume the role under one "StringEquals" sts:ExternalId: this is not a CSPM role, or its CSPM statement lacks the external ID (re-run the CSPM registration for this account)`, cs.CSPMConnector))
		return p, nil
	case 1:
	default:
		p.Refusals = []string{fmt.Sprintf("the CSPM connector %s is trusted under %d different external IDs (%s): keep only the one CSPM registered, then retry",
			cs.CSPMConnector, len(ids), strings.Join(labels, ", "))}
		return p, nil
	}

	c := check(d, p.Principals, ids[0])
	p.Refusals = c.refusals()
	for _, s := range c.stale {
		p.Refusals = append(p.Refusals, fmt.Sprintf("%s lets the registry-assessment principal assume the role with another sts:ExternalId than the CSPM statement's: remove it from there first (this setup only adds, so that stack deletion can undo exactly what it did)",
			s.label()))
	}
	if len(p.Refusals) > 0 || c.regOK {
		return p, nil
	}
	if c.target == nil { // cannot happen: the statement the ID came from is one
		p.Refusals = []string{"no statement trusts the CSPM connector with its external ID alone"}
		return p, nil
	}
	p.Addition = AddedToList
	if _, isString := c.target.m["Principal"].(map[string]any)["AWS"].(string); isString {
		p.Addition = AddedToString
	}
	c.target.addAWS(p.Registry)
	p.Updated = encode(d.raw, "")
	return p, nil
}

// UnwritableError is Revert's answer for a policy IAM would refuse to save
// whatever was taken out of it (a deleted principal's unique ID): nothing
// can be reverted until its owner removes what Reasons name.
type UnwritableError struct{ Reasons []string }

func (e *UnwritableError) Error() string {
	return "IAM refuses any rewrite of this trust policy: " + strings.Join(e.Reasons, "; ")
}

// Revert undoes an Addition: it removes the registry-assessment principal of
// partition from the first statement that trusts it together with the CSPM
// connector, leaving that statement as it was before. Nothing else changes.
// updated is nil when there is nothing to remove (it was removed already,
// say by a CSPM stack update) or how is NotAdded. A policy IAM would refuse
// to save is an *UnwritableError.
func Revert(policy, partition string, how Addition) (updated []byte, err error) {
	cs, err := crowdstrike.For(partition)
	if err != nil {
		return nil, err
	}
	if how == NotAdded {
		return nil, nil
	}
	d, err := parseDocument(policy)
	if err != nil {
		return nil, err
	}
	for _, s := range connectorStatements(d, cs.CSPMConnector) {
		if slices.Contains(s.aws, cs.RegistryAssessment) {
			if f := unwritableFindings(d); len(f) > 0 {
				return nil, &UnwritableError{Reasons: checked{findings: f}.refusals()}
			}
			d.removeAWS(s, cs.RegistryAssessment, how == AddedToList)
			d.sync()
			return encode(d.raw, ""), nil
		}
	}
	return nil, nil
}
