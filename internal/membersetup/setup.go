// Package membersetup is the member-account custom resource of
// deploy/member/template.yaml: it prepares the account's CSPM role for
// Container Security registry assessment. The registry-assessment principal
// of the account's partition joins the statement that trusts CrowdStrike's
// CSPM connector, under the sts:ExternalId condition already there (read
// from the role, never configured); the role gets
// AmazonEC2ContainerRegistryReadOnly. Roles that trust "*" or let
// CrowdStrike in without an external ID are refused (the rules are
// internal/trustpolicy's). Stack deletion undoes exactly what was added,
// as the physical ID records it. No Falcon API call, no external ID in any
// property, response or log line.
package membersetup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

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
	HasPolicy(ctx context.Context, name, policyARN string) (bool, error)
	AttachPolicy(ctx context.Context, name, policyARN string) error
	DetachPolicy(ctx context.Context, name, policyARN string) error
}

// Setup answers the member stack's custom resource (Custom::EcrOnboardCspmRole).
type Setup struct {
	// IAM is the account's IAM in partition.
	IAM func(partition string) Roles
	Log *slog.Logger
}

// Properties the custom resource may have. Anything else is refused: in
// particular, nothing here ever takes an external ID.
const (
	propRoleName = "CspmRoleName" // "": find the CSPM role
	propRevision = "Revision"     // ignored: changing it makes CloudFormation send an Update (re-apply)
)

// deadlineMargin: work stops this long before the invocation's deadline, so
// that cfn.LambdaWrap still answers CloudFormation.
const deadlineMargin = 5 * time.Second

// maxReason bounds the Reason sent to CloudFormation (the response must stay
// under 4 KB).
const maxReason = 1500

// ecrReadOnly is the managed policy that gives image assessment ECR read access.
func ecrReadOnly(partition string) string {
	return "arn:" + partition + ":iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
}

// Handle is a cfn.CustomResourceFunction: Create and Update prepare the CSPM
// role (and return what was done as the physical ID), Delete undoes exactly
// that. A returned error is answered FAILED with the error as the reason.
func (s *Setup) Handle(ctx context.Context, ev cfn.Event) (physicalID string, data map[string]any, err error) {
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-deadlineMargin))
		defer cancel()
	}
	// physical_resource_id is the answer's, on the last line alone.
	log := s.Log.With("request_type", string(ev.RequestType), "stack_id", ev.StackID, "logical_resource_id", ev.LogicalResourceID)
	defer func() {
		if err != nil {
			if msg := err.Error(); len(msg) > maxReason {
				err = errors.New(msg[:maxReason] + " …")
			}
			log.Error("failed", "physical_resource_id", physicalID, "reason", err.Error())
		} else {
			log.Info("done", "physical_resource_id", physicalID, "data", data)
		}
	}()

	partition, err := partitionOf(ev.StackID)
	if err != nil {
		return ev.PhysicalResourceID, nil, err
	}
	switch ev.RequestType {
	case cfn.RequestDelete:
		return s.undo(ctx, partition, ev.PhysicalResourceID)
	case cfn.RequestCreate, cfn.RequestUpdate:
	default:
		return ev.PhysicalResourceID, nil, fmt.Errorf("unsupported RequestType %q", ev.RequestType)
	}
	var before applied
	if ev.RequestType == cfn.RequestUpdate {
		before, _ = parseApplied(ev.PhysicalResourceID)
	}
	roleName, err := properties(ev.ResourceProperties)
	if err != nil {
		return failedID(ev, before), nil, err
	}
	return s.apply(ctx, partition, roleName, before)
}

// failedID is the physical ID of a request that failed before touching
// anything: on Create, one that Delete recognises as "nothing done"; on
// Update, the one CloudFormation has (it still describes what was done).
func failedID(ev cfn.Event, before applied) string {
	if ev.RequestType == cfn.RequestCreate {
		return applied{}.ID()
	}
	if before.Role == "" {
		return applied{}.ID()
	}
	return before.ID()
}

// apply prepares the CSPM role: the registry-assessment principal joins its
// CSPM statement (under the external ID already there), and it gets ECR read
// access. before is what earlier requests did to the same stack's resource;
// it stays ours to undo when this request finds it already in place.
func (s *Setup) apply(ctx context.Context, partition, roleName string, before applied) (string, map[string]any, error) {
	iam := s.IAM(partition)
	role, err := s.find(ctx, iam, partition, roleName)
	if err != nil {
		return before.ID(), nil, err
	}
	prep, err := trustpolicy.Prepare(role.TrustPolicy, partition)
	if err != nil {
		return before.ID(), nil, fmt.Errorf("role %s: %w", role.ARN, err)
	}
	if len(prep.Refusals) > 0 {
		return before.ID(), nil, fmt.Errorf("role %s is refused, nothing was changed: %s", role.ARN, strings.Join(prep.Refusals, "; "))
	}

	done := applied{Role: role.Name}
	if before.Role == role.Name {
		done = before
	}
	if prep.Updated != nil {
		if err := iam.UpdateTrustPolicy(ctx, role.Name, string(prep.Updated)); err != nil {
			return done.ID(), nil, err
		}
		done.Addition = prep.Addition
	}
	policy := ecrReadOnly(partition)
	has, err := iam.HasPolicy(ctx, role.Name, policy)
	if err == nil && !has {
		if err = iam.AttachPolicy(ctx, role.Name, policy); err == nil {
			done.Attached = true
		}
	}
	if err != nil {
		return done.ID(), nil, err
	}
	return done.ID(), map[string]any{
		"RoleArn":             role.ARN,
		"RoleName":            role.Name,
		"RegistryPrincipal":   prep.Registry,
		"TrustPolicyUpdated":  fmt.Sprint(prep.Updated != nil),
		"EcrReadOnlyAttached": fmt.Sprint(!has),
	}, nil
}

// find is the CSPM role: the one named, or else the one role of the account
// that trusts CrowdStrike's CSPM connector under an sts:ExternalId condition.
func (s *Setup) find(ctx context.Context, iam Roles, partition, name string) (iamrole.Role, error) {
	cs, err := crowdstrike.For(partition)
	if err != nil {
		return iamrole.Role{}, err
	}
	if name != "" {
		role, err := iam.GetRole(ctx, name)
		if errors.Is(err, iamrole.ErrNoSuchRole) {
			return role, fmt.Errorf("CspmRoleName %s: no such role in this account", name)
		}
		return role, err
	}
	all, err := iam.ListRoles(ctx)
	if err != nil {
		return iamrole.Role{}, err
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
		return found, nil
	case len(with) > 1:
		return iamrole.Role{}, fmt.Errorf("%d roles trust CrowdStrike's CSPM connector %s under an sts:ExternalId condition: %s; set CspmRoleName to the one CSPM registered for this account (its iam_role_arn)",
			len(with), cs.CSPMConnector, names(with))
	case len(without) > 0:
		return iamrole.Role{}, fmt.Errorf("no role trusts CrowdStrike's CSPM connector %s under an sts:ExternalId condition; trusting it WITHOUT one: %s. A role CrowdStrike can assume without its external ID must be fixed (or re-registered with CSPM) first",
			cs.CSPMConnector, names(without))
	}
	return iamrole.Role{}, fmt.Errorf("no role in this account trusts CrowdStrike's CSPM connector %s: register the account with CrowdStrike CSPM first, or set CspmRoleName", cs.CSPMConnector)
}

// names lists role ARNs for a reason (at most 10).
func names(arns []string) string {
	slices.Sort(arns)
	if len(arns) > 10 {
		return strings.Join(arns[:10], ", ") + fmt.Sprintf(" and %d more", len(arns)-10)
	}
	return strings.Join(arns, ", ")
}

// undo reverts what the physical ID says was done, and nothing else. A
// role that is gone has nothing left to undo.
func (s *Setup) undo(ctx context.Context, partition, physicalID string) (string, map[string]any, error) {
	a, ok := parseApplied(physicalID)
	if !ok || a.Role == "" || (a.Addition == trustpolicy.NotAdded && !a.Attached) {
		return physicalID, nil, nil
	}
	iam := s.IAM(partition)
	fail := func(err error) (string, map[string]any, error) {
		return physicalID, nil, fmt.Errorf("undoing the setup of role %s: %w (to delete the stack without undoing it, delete again retaining this resource)", a.Role, err)
	}
	if a.Addition != trustpolicy.NotAdded {
		role, err := iam.GetRole(ctx, a.Role)
		switch {
		case errors.Is(err, iamrole.ErrNoSuchRole):
			return physicalID, nil, nil
		case err != nil:
			return fail(err)
		}
		updated, err := trustpolicy.Revert(role.TrustPolicy, partition, a.Addition)
		if err != nil {
			return fail(err)
		}
		if updated != nil {
			if err := iam.UpdateTrustPolicy(ctx, a.Role, string(updated)); err != nil {
				return fail(err)
			}
		}
	}
	if a.Attached {
		// NoSuchEntity: the role is gone or the policy was detached already.
		if err := iam.DetachPolicy(ctx, a.Role, ecrReadOnly(partition)); err != nil && !errors.Is(err, iamrole.ErrNoSuchRole) {
			return fail(err)
		}
	}
	return physicalID, nil, nil
}

// properties validates the custom resource's properties.
func properties(p map[string]any) (roleName string, err error) {
	for k, v := range p {
		switch k {
		case "ServiceToken", propRevision:
		case propRoleName:
			s, ok := v.(string)
			if !ok || (s != "" && !iamrole.ValidRoleName(s)) {
				return "", fmt.Errorf("%s %v is not an IAM role name (no path)", propRoleName, v)
			}
			roleName = s
		default:
			return "", fmt.Errorf("unknown property %s (this resource takes %s and %s; never an external ID: it is read from the role itself)", k, propRoleName, propRevision)
		}
	}
	return roleName, nil
}

// partitionOf is the partition of a stack ARN (arn:PARTITION:cloudformation:…).
func partitionOf(stackID string) (string, error) {
	parts := strings.SplitN(stackID, ":", 4)
	if len(parts) < 4 || parts[0] != "arn" || parts[2] != "cloudformation" || parts[1] == "" {
		return "", fmt.Errorf("StackId %q is not a CloudFormation stack ARN", stackID)
	}
	return parts[1], nil
}
