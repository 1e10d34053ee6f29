package membersetup

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
)

// deadlineMargin: work stops this long before the invocation's deadline, so
// that the answer still reaches CloudFormation.
const deadlineMargin = 5 * time.Second

// maxReason bounds the Reason sent to CloudFormation (the response must stay
// under 4 KB).
const maxReason = 1500

// reply is a custom resource request's successful outcome.
type reply struct {
	data map[string]any
	// reason is said even on SUCCESS (CloudFormation shows it in the
	// stack's events): waiting, or what a Delete left.
	reason string
}

// Answer handles a custom resource request and PUTs the answer to its
// ResponseURL, always: SUCCESS, FAILED with the error as the reason, or
// FAILED after a panic (as cfn.LambdaWrap does; this one also says why on
// SUCCESS). The physical ID is the resource's identity and never changes:
// a Create's is physicalID(its request ID), answered even when it fails;
// every later request answers the ID it was sent. The error is the
// answer's delivery's, or the panic.
func (s *Setup) Answer(ctx context.Context, ev cfn.Event) (err error) {
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-deadlineMargin))
		defer cancel()
	}
	resp := cfn.NewResponse(&ev)
	resp.PhysicalResourceID = ev.PhysicalResourceID
	if ev.RequestType == cfn.RequestCreate {
		resp.PhysicalResourceID = physicalID(ev.RequestID)
	}
	log := s.Log.With("request_type", string(ev.RequestType), "stack_id", ev.StackID,
		"logical_resource_id", ev.LogicalResourceID, "physical_resource_id", resp.PhysicalResourceID)
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic", "panic", fmt.Sprint(p), "trace", string(debug.Stack()))
			resp.Status, resp.Reason, resp.Data = cfn.StatusFailed, "the function panicked; see its log", nil
			err = errors.Join(fmt.Errorf("panic: %v", p), resp.Send())
		}
	}()

	rep, herr := s.handle(ctx, ev, resp.PhysicalResourceID)
	resp.Status, resp.Data, resp.Reason = cfn.StatusSuccess, rep.data, rep.reason
	if herr != nil {
		resp.Status, resp.Data, resp.Reason = cfn.StatusFailed, nil, herr.Error()
	}
	if len(resp.Reason) > maxReason {
		resp.Reason = resp.Reason[:maxReason] + " …"
	}
	if herr != nil {
		log.Error("failed", "reason", resp.Reason)
	} else {
		log.Info("done", "reason", resp.Reason, "data", resp.Data)
	}
	if err := resp.Send(); err != nil {
		log.Error("the answer did not reach CloudFormation", "error", err.Error())
		return fmt.Errorf("answering CloudFormation: %w", err)
	}
	return nil
}

// handle does what the request asks of the resource whose ID is id.
func (s *Setup) handle(ctx context.Context, ev cfn.Event, id string) (reply, error) {
	partition, store, err := s.open(ev.StackID)
	if err != nil {
		return reply{}, err
	}
	release, err := s.exclusive(ctx, ev.StackID)
	defer release()
	if err != nil {
		return reply{}, err
	}
	switch ev.RequestType {
	case cfn.RequestDelete:
		return s.remove(ctx, partition, store, id)
	case cfn.RequestCreate, cfn.RequestUpdate:
	default:
		return reply{}, fmt.Errorf("unsupported RequestType %q", ev.RequestType)
	}
	props, err := properties(ev.ResourceProperties)
	if err != nil {
		return reply{}, err
	}
	l := &ledger{s: s, store: store}
	err = l.update(ctx, func(r *record) {
		if r.PhysicalID != "" && r.PhysicalID != id {
			s.Log.Warn("the record belonged to another resource of this stack's name; this one takes it over", "record_physical_resource_id", r.PhysicalID)
		}
		r.PhysicalID, r.Deleting, r.Refused = id, false, ""
		r.readLegacy(id)
	})
	if err != nil {
		return reply{}, err
	}
	// The record holds every write made, also when a later one failed.
	out, err := s.prepare(ctx, partition, props.roleName, l)
	if err != nil {
		return reply{}, err
	}
	return reply{data: out.data(ev.StackID, props.roleName), reason: out.reason(props.interval)}, nil
}

// remove undoes what the record says this resource added, and forgets it.
// A Delete of an ID the record does not belong to (an ID CloudFormation
// replaced, a request for a resource this function never answered) undoes
// nothing: the setup that the record describes is still in force.
func (s *Setup) remove(ctx context.Context, partition string, store Record, id string) (reply, error) {
	r, found, err := loadRecord(ctx, store)
	if err != nil {
		return reply{}, fmt.Errorf("%w (to delete the stack without undoing the setup, delete again retaining this resource)", err)
	}
	switch {
	case !ours(id):
		return reply{reason: fmt.Sprintf("%s is no setup of this function: nothing to undo", id)}, nil
	case found && r.PhysicalID != "" && r.PhysicalID != id:
		return reply{reason: fmt.Sprintf("%s is not this stack's setup (%s is): nothing undone", id, r.PhysicalID)}, nil
	}
	r.PhysicalID, r.Deleting = id, true
	r.readLegacy(id)
	if found {
		// From now on a repair leaves the record alone.
		if err := store.Put(ctx, r.String()); err != nil {
			return reply{}, fmt.Errorf("%w (to delete the stack without undoing the setup, delete again retaining this resource)", err)
		}
	}
	iam := s.IAM(partition)
	var left []string
	for _, name := range r.roles() {
		l, err := s.undo(ctx, iam, partition, name, r.Roles[name], nil)
		if err != nil {
			if perr := store.Put(ctx, r.String()); perr != nil {
				err = errors.Join(err, perr)
			}
			return reply{}, fmt.Errorf("%w (to delete the stack without undoing the setup, delete again retaining this resource)", err)
		}
		left = append(left, l...)
		delete(r.Roles, name)
	}
	if err := store.Delete(ctx); err != nil {
		return reply{}, err
	}
	return reply{reason: strings.Join(left, "; ")}, nil
}

// props are the custom resource's properties.
type props struct {
	roleName string
	interval int // minutes; -1: not given (a template of an earlier version)
}

// properties validates the custom resource's properties.
func properties(p map[string]any) (props, error) {
	out := props{interval: -1}
	for k, v := range p {
		switch k {
		case "ServiceToken", propRevision:
		case propRoleName:
			s, ok := v.(string)
			if !ok || (s != "" && !iamrole.ValidRoleName(s)) {
				return props{}, fmt.Errorf("%s %v is not an IAM role name (no path)", propRoleName, v)
			}
			out.roleName = s
		case propInterval:
			s, _ := v.(string)
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return props{}, fmt.Errorf("%s %v is not a number of minutes", propInterval, v)
			}
			out.interval = n
		default:
			return props{}, fmt.Errorf("unknown property %s (this resource takes %s, %s and %s; never an external ID: it is read from the role itself)", k, propRoleName, propRevision, propInterval)
		}
	}
	return out, nil
}

// data are the resource's attributes (Fn::GetAtt). While waiting there is
// no role: RoleArn is the ARN the named role will have (without a path), or
// in the search for one a placeholder naming no role, so that what uses it
// (the trust reader's policy) stays valid.
func (o outcome) data(stackID, roleName string) map[string]any {
	cs, _ := crowdstrike.For(o.partition) // known: prepare succeeded
	d := map[string]any{
		"Status":              "prepared",
		"RoleArn":             o.role.ARN,
		"RoleName":            o.role.Name,
		"RegistryPrincipal":   cs.RegistryAssessment,
		"TrustPolicyUpdated":  strconv.FormatBool(o.trustUpdated),
		"EcrReadOnlyAttached": strconv.FormatBool(o.policyAttached),
	}
	if o.waiting != "" {
		d["Status"] = "waiting"
		name := roleName
		if name == "" {
			name = "ecr-onboard-member/no-cspm-role-found-yet"
		}
		d["RoleArn"], d["RoleName"] = "arn:"+o.partition+":iam::"+accountOf(stackID)+":role/"+name, roleName
	}
	return d
}

// reason is what a successful Create or Update says besides its data.
func (o outcome) reason(interval int) string {
	var out []string
	if o.waiting != "" {
		if interval > 0 {
			out = append(out, fmt.Sprintf("waiting for the CSPM role: %s. The setup prepares it within %d minutes of its appearing, with no further step", o.waiting, interval))
		} else {
			out = append(out, fmt.Sprintf("waiting for the CSPM role: %s. There is no repair schedule (RepairIntervalMinutes 0): once the role exists, change Revision to prepare it", o.waiting))
		}
	}
	return strings.Join(append(out, o.left...), "; ")
}
