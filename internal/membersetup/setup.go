// Package membersetup is the member-account function of
// deploy/member/template.yaml: it prepares the account's CSPM role for
// Container Security registry assessment, and keeps it prepared. The
// registry-assessment principal of the account's partition joins the
// statement that trusts CrowdStrike's CSPM connector, under the
// sts:ExternalId condition already there (read from the role, never
// configured); the role gets AmazonEC2ContainerRegistryReadOnly. Roles that
// trust "*", let CrowdStrike in without an external ID, or that IAM would
// refuse to save are refused (the rules are internal/trustpolicy's).
//
// Three things invoke it: the stack's custom resource (resource.go: Create
// and Update prepare, Delete undoes what the setup added), a schedule and
// IAM's change events (repair.go: the same preparation, so that a CSPM role
// created after the stack, or rewritten by CrowdStrike's CSPM stack, is
// prepared with no one in the loop). What the setup added is kept in a
// record (record.go), never in the resource's identity; the invocations of
// one account take turns, and a repair never writes once the stack's Delete
// has begun (ledger.go). IAM's quotas are checked before writing: a role
// the writes would take over them is refused, naming the quota and the
// remedy. No Falcon API call, no external ID in any property, response,
// record or log line.
package membersetup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

// Roles is the IAM the setup needs (iamrole.Client).
type Roles interface {
	GetRole(ctx context.Context, name string) (iamrole.Role, error)
	ListRoles(ctx context.Context) ([]iamrole.Role, error)
	UpdateTrustPolicy(ctx context.Context, name, doc string) error
	AttachedPolicies(ctx context.Context, name string) ([]string, error)
	AttachPolicy(ctx context.Context, name, policyARN string) error
	DetachPolicy(ctx context.Context, name, policyARN string) error
	Quotas(ctx context.Context) (iamrole.Quotas, error)
}

// Record is where the setup keeps what it added (ssmparam.Parameter): one
// value, read and written whole.
type Record interface {
	Get(ctx context.Context) (value string, found bool, err error)
	Put(ctx context.Context, value string) error
	Delete(ctx context.Context) error
}

// Setup is the function.
type Setup struct {
	// IAM is the account's IAM in partition.
	IAM func(partition string) Roles
	// Record opens the record of the given name (recordName).
	Record func(name string) Record
	// Lease opens the lease of the given name (leaseName), which one
	// invocation at a time holds (ledger.go).
	Lease func(name string) Lease
	Log   *slog.Logger
	// StackID is the ARN of the member stack the function belongs to (its
	// environment): custom resource requests of any other stack are
	// refused unanswered, and repairs work on its record, in its
	// partition. "" (a function deployed by an earlier template): every
	// custom resource request is answered, and nothing is repaired.
	StackID string
	// RoleName is the stack's CspmRoleName, for repairs ("": find it).
	RoleName string

	// pause, in tests, holds an invocation at a step (ledger.go) to force
	// an order of events.
	pause func(ctx context.Context, step string)
}

// refusal is what only the role's owner can mend (trustpolicy's rules,
// IAM's quotas, no single CSPM role): retrying changes nothing, so a repair
// says it once (repair.go).
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(format string, a ...any) error { return &refusal{reason: fmt.Sprintf(format, a...)} }

// Properties the custom resource may have. Anything else is refused: in
// particular, nothing here ever takes an external ID.
const (
	propRoleName = "CspmRoleName"          // "": find the CSPM role
	propRevision = "Revision"              // ignored: changing it makes CloudFormation send an Update (re-apply)
	propInterval = "RepairIntervalMinutes" // the repair schedule, for the reasons given; "0": none
)

// ecrReadOnly is the managed policy that gives image assessment ECR read access.
func ecrReadOnly(partition string) string {
	return "arn:" + partition + ":iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
}

// Invoke is the Lambda handler: a CloudFormation custom resource request
// (answered at its ResponseURL, always, unless it is another stack's), or
// an EventBridge event asking for a repair (a schedule, or an IAM change
// delivered by CloudTrail; what the event says is not used: it only says
// "look now"). Anything else is an error.
func (s *Setup) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var probe struct {
		RequestType string `json:"RequestType"`
		StackID     string `json:"StackId"`
		Source      string `json:"source"`
		DetailType  string `json:"detail-type"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("unsupported event: %w", err)
	}
	switch {
	case probe.RequestType != "":
		var ev cfn.Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("custom resource request: %w", err)
		}
		if s.StackID != "" && ev.StackID != s.StackID {
			return nil, fmt.Errorf("custom resource request of stack %q refused, unanswered: this function belongs to stack %s", ev.StackID, s.StackID)
		}
		return nil, s.Answer(ctx, ev)
	case probe.Source == "aws.events" && probe.DetailType == "Scheduled Event",
		probe.Source == "aws.iam" && probe.DetailType == "AWS API Call via CloudTrail":
		return s.Repair(ctx, probe.Source)
	}
	return nil, fmt.Errorf("unsupported event (source %q, detail-type %q): this function takes its stack's custom resource requests, its schedule and IAM's CloudTrail events", probe.Source, probe.DetailType)
}

// outcome is what one preparation found and did.
type outcome struct {
	partition string
	role      iamrole.Role // zero while waiting
	// waiting says why there is no CSPM role to prepare yet ("" when
	// there is one).
	waiting        string
	trustUpdated   bool
	policyAttached bool
	// left are what could not be undone in roles the setup is no longer for.
	left []string
}

// prepare is the one preparation every caller runs: find the CSPM role
// (roleName, or the one that trusts CrowdStrike's CSPM connector), prepare
// it by trustpolicy's rules within IAM's quotas, recording what is added
// before adding it, and undo what the record holds for any other role. A
// role that is not there yet is a state to wait in, not an error.
func (s *Setup) prepare(ctx context.Context, partition, roleName string, l *ledger) (outcome, error) {
	out := outcome{partition: partition}
	iam := s.IAM(partition)
	role, waiting, err := s.find(ctx, iam, partition, roleName)
	if err != nil {
		return out, err
	}
	out.waiting = waiting
	if waiting == "" {
		out.role = role
		if err := s.apply(ctx, iam, partition, role, l, &out); err != nil {
			return out, err
		}
	}
	for _, name := range l.r.roles() {
		if name == role.Name {
			continue
		}
		left, err := s.undo(ctx, iam, partition, name, l.r.Roles[name], l.beforeWrite)
		if err != nil {
			return out, err
		}
		out.left = append(out.left, left...)
		if err := l.update(ctx, func(r *record) { delete(r.Roles, name) }); err != nil {
			return out, err
		}
	}
	return out, nil
}

// apply prepares one role. Nothing is written unless every write it needs
// is within IAM's quotas; each write is recorded before it is made.
func (s *Setup) apply(ctx context.Context, iam Roles, partition string, role iamrole.Role, l *ledger, out *outcome) error {
	prep, err := trustpolicy.Prepare(role.TrustPolicy, partition)
	if err != nil {
		return refuse("role %s: %v", role.ARN, err)
	}
	if len(prep.Refusals) > 0 {
		return refuse("role %s is refused, nothing was changed: %s", role.ARN, strings.Join(prep.Refusals, "; "))
	}
	policy := ecrReadOnly(partition)
	attached, err := iam.AttachedPolicies(ctx, role.Name)
	if err != nil {
		return err
	}
	attach := !slices.Contains(attached, policy)
	if prep.Updated == nil && !attach {
		return nil
	}
	quotas, err := iam.Quotas(ctx)
	if err != nil {
		return err
	}
	var over []string
	if prep.Updated != nil {
		if err := quotas.CheckTrustPolicy(role.Name, string(prep.Updated)); err != nil {
			over = append(over, err.Error()+", then change Revision or wait for the next repair")
		}
	}
	if attach {
		if err := quotas.CheckAttach(role.Name, len(attached)); err != nil {
			over = append(over, err.Error()+", then change Revision or wait for the next repair")
		}
	}
	if len(over) > 0 {
		return refuse("role %s is refused, nothing was changed: %s", role.ARN, strings.Join(over, "; "))
	}

	if prep.Updated != nil {
		done, err := l.intend(ctx, role.Name, added{Principal: prep.Addition})
		if err != nil {
			return err
		}
		err = iam.UpdateTrustPolicy(ctx, role.Name, string(prep.Updated))
		done(ctx, err)
		if err != nil {
			return err
		}
		out.trustUpdated = true
	}
	if attach {
		done, err := l.intend(ctx, role.Name, added{ECRReadOnly: true})
		if err != nil {
			return err
		}
		err = iam.AttachPolicy(ctx, role.Name, policy)
		done(ctx, err)
		if err != nil {
			return err
		}
		out.policyAttached = true
	}
	return nil
}

// find is the CSPM role: the one named, or else the one role of the account
// that trusts CrowdStrike's CSPM connector under an sts:ExternalId
// condition. waiting says why there is none yet (the role named does not
// exist, or no role trusts the connector at all): CrowdStrike's CSPM
// StackSet and this one deploy into a new account in no defined order.
func (s *Setup) find(ctx context.Context, iam Roles, partition, name string) (role iamrole.Role, waiting string, err error) {
	cs, err := crowdstrike.For(partition)
	if err != nil {
		return iamrole.Role{}, "", err
	}
	if name != "" {
		role, err := iam.GetRole(ctx, name)
		if errors.Is(err, iamrole.ErrNoSuchRole) {
			return iamrole.Role{}, fmt.Sprintf("there is no role %s (CspmRoleName) in this account yet", name), nil
		}
		return role, "", err
	}
	all, err := iam.ListRoles(ctx)
	if err != nil {
		return iamrole.Role{}, "", err
	}
	var with, without []string
	var found iamrole.Role
	for _, r := range all {
		trust, err := trustpolicy.TrustsConnector(r.TrustPolicy, partition)
		if err != nil {
			s.Log.Warn("role's trust policy not understood: not a candidate", "role", r.ARN, "error", err.Error())
			continue
		}
		switch trust {
		case trustpolicy.ConnectorWithExternalID:
			with, found = append(with, r.ARN), r
		case trustpolicy.ConnectorWithoutExternalID:
			without = append(without, r.ARN)
		}
	}
	switch {
	case len(with) == 1:
		return found, "", nil
	case len(with) > 1:
		return iamrole.Role{}, "", refuse("%d roles trust CrowdStrike's CSPM connector %s under an sts:ExternalId condition: %s; set CspmRoleName to the one CSPM registered for this account (its iam_role_arn)",
			len(with), cs.CSPMConnector, names(with))
	case len(without) > 0:
		return iamrole.Role{}, "", refuse("no role trusts CrowdStrike's CSPM connector %s under an sts:ExternalId condition; trusting it WITHOUT one: %s. A role CrowdStrike can assume without its external ID must be fixed (or re-registered with CSPM) first",
			cs.CSPMConnector, names(without))
	}
	return iamrole.Role{}, fmt.Sprintf("no role in this account trusts CrowdStrike's CSPM connector %s yet (the account is not registered with CSPM, or its CSPM role is still to come)", cs.CSPMConnector), nil
}

// names lists role ARNs for a reason (at most 10).
func names(arns []string) string {
	slices.Sort(arns)
	if len(arns) > 10 {
		return strings.Join(arns[:10], ", ") + fmt.Sprintf(" and %d more", len(arns)-10)
	}
	return strings.Join(arns, ", ")
}

// undo reverts what the setup added to one role, and nothing else. A role
// that is gone has nothing left to undo. What IAM would refuse to write (a
// deleted principal's unique ID in the policy) is left, and said so in
// left: undoing must never be blocked by what a retry cannot mend.
// beforeWrite, when not nil, runs right before each IAM write; its error
// stops the undo.
func (s *Setup) undo(ctx context.Context, iam Roles, partition, name string, a added, beforeWrite func(context.Context) error) (left []string, err error) {
	if beforeWrite == nil {
		beforeWrite = func(context.Context) error { return nil }
	}
	fail := func(err error) ([]string, error) {
		return nil, fmt.Errorf("undoing the setup of role %s: %w", name, err)
	}
	if a.Principal != trustpolicy.NotAdded {
		role, err := iam.GetRole(ctx, name)
		switch {
		case errors.Is(err, iamrole.ErrNoSuchRole):
			return nil, nil
		case err != nil:
			return fail(err)
		}
		updated, err := trustpolicy.Revert(role.TrustPolicy, partition, a.Principal)
		var unwritable *trustpolicy.UnwritableError
		switch {
		case errors.As(err, &unwritable):
			left = append(left, leftPrincipal(name, strings.Join(unwritable.Reasons, "; ")))
		case err != nil:
			return fail(err)
		case updated != nil:
			if err := beforeWrite(ctx); err != nil {
				return nil, err
			}
			err := iam.UpdateTrustPolicy(ctx, name, string(updated))
			switch {
			case errors.Is(err, iamrole.ErrMalformedPolicy):
				left = append(left, leftPrincipal(name, err.Error()))
			case err != nil:
				return fail(err)
			}
		}
	}
	if a.ECRReadOnly {
		if err := beforeWrite(ctx); err != nil {
			return nil, err
		}
		// NoSuchEntity: the role is gone or the policy was detached already.
		if err := iam.DetachPolicy(ctx, name, ecrReadOnly(partition)); err != nil && !errors.Is(err, iamrole.ErrNoSuchRole) {
			return fail(err)
		}
	}
	for _, l := range left {
		s.Log.Warn("left in place", "role", name, "left", l)
	}
	return left, nil
}

func leftPrincipal(role, why string) string {
	return fmt.Sprintf("the registry-assessment principal stays in the trust policy of role %s, as IAM refuses to save that policy: %s. Remove the registry-assessment principal from the CSPM statement by hand once that is fixed (REMOVAL_GUIDE.md)", role, why)
}

// open is a stack's partition and record.
func (s *Setup) open(stackID string) (partition string, store Record, err error) {
	if partition, err = partitionOf(stackID); err != nil {
		return "", nil, err
	}
	name, err := recordName(stackID)
	if err != nil {
		return "", nil, err
	}
	return partition, s.Record(name), nil
}

// partitionOf is the partition of a stack ARN (arn:PARTITION:cloudformation:…).
func partitionOf(stackID string) (string, error) {
	parts := strings.SplitN(stackID, ":", 4)
	if len(parts) < 4 || parts[0] != "arn" || parts[2] != "cloudformation" || parts[1] == "" {
		return "", fmt.Errorf("StackId %q is not a CloudFormation stack ARN", stackID)
	}
	return parts[1], nil
}

// accountOf is the account of a stack ARN.
func accountOf(stackID string) string {
	parts := strings.SplitN(stackID, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// loadRecord reads the record; found is false when there is none.
func loadRecord(ctx context.Context, store Record) (r record, found bool, err error) {
	v, found, err := store.Get(ctx)
	if err != nil || !found {
		return record{}, found, err
	}
	r, err = parseRecord(v)
	return r, true, err
}
