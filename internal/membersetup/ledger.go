package membersetup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/smithy-go"
)

// What can invoke the function at once, in one account: the stack's
// custom resource requests (Create, Update, Delete), its repair schedule,
// and IAM's events (a CSPM stack update sends UpdateAssumeRolePolicy and
// DetachRolePolicy seconds apart: two events, two invocations). The
// ordering rules, all here:
//
//  1. One invocation at a time does its work: each takes the stack's
//     lease (Setup.Lease, ssmparam.Lease) first, and holds it until done.
//     A Delete arriving during a repair waits for it, then undoes what the
//     repair added too.
//  2. Each change to the record is made to the record as it is just then
//     (read again, merged into, never overwritten with a copy read
//     earlier), and what an IAM write adds is recorded before the write:
//     a Delete never misses what was added.
//  3. A repair reads the record again right before every IAM write, and
//     stops, writing nothing more, once the stack's Delete has begun (the
//     record is marked, or gone).
//
// Rule 1 alone makes the lifecycle hold; 2 and 3 make it hold even if two
// invocations overlapped (a lease outlived: not in practice), and are
// tested by forcing both orders.
//
// Why a lease in SSM rather than Lambda's reserved concurrency of 1 (which
// would serialise every invocation of the function): an account must keep
// 100 concurrent executions unreserved, and new accounts start with less
// ("New AWS accounts have reduced concurrency and memory quotas", AWS
// Lambda Developer Guide, "Lambda quotas"; "Configuring reserved
// concurrency"): the member stack would fail to create in exactly the
// accounts that join an organisation.

// leaseMargin is added to an invocation's deadline for its lease's Until:
// the invocation cannot outlive its deadline (Lambda ends it), and the
// margin covers the difference between Lambda's clock and SSM's.
const leaseMargin = 30 * time.Second

// defaultTimeout is the member template's function timeout, for a context
// without a deadline.
const defaultTimeout = 120 * time.Second

// Lease lets one invocation at a time work on a stack's setup
// (ssmparam.Lease): Acquire returns once holder has it, until until.
type Lease interface {
	Acquire(ctx context.Context, holder string, until time.Time) (release func(context.Context) error, err error)
}

// leaseName is the lease's parameter for a stack: its record's name with
// ".lease" (a stack name has no dot, so no record is named so).
func leaseName(stackID string) (string, error) {
	name, err := recordName(stackID)
	return name + ".lease", err
}

// exclusive takes the stack's lease for this invocation; release is never nil.
func (s *Setup) exclusive(ctx context.Context, stackID string) (release func(), err error) {
	name, err := leaseName(stackID)
	if err != nil {
		return func() {}, err
	}
	holder := "member-setup"
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		holder = lc.AwsRequestID
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	s.step(ctx, stepLease)
	rel, err := s.Lease(name).Acquire(ctx, holder, deadline.Add(leaseMargin))
	if err != nil {
		return func() {}, fmt.Errorf("waiting for the other invocation of this stack's setup to finish: %w", err)
	}
	return func() {
		// Not ctx: its deadline may have passed; the release is one call.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := rel(ctx); err != nil {
			s.Log.Warn("the lease was not released; it frees itself at its Until", "lease", name, "error", err.Error())
		}
	}, nil
}

// Points where tests pause an invocation (Setup.pause) to force an order.
const (
	stepRecordRead = "record read" // a repair read its record, before taking the lease
	stepLease      = "lease"       // about to take the lease
	stepIAMWrite   = "IAM write"   // about to write to IAM, the record read again
)

func (s *Setup) step(ctx context.Context, step string) {
	if s.pause != nil {
		s.pause(ctx, step)
	}
}

// errNotInForce stops a repair: the stack's Delete has begun.
var errNotInForce = errors.New("the stack's setup is no longer in force (its Delete has begun, or it was never created with this version): nothing more is written")

// ledger is the record as one invocation changes it (rules 2 and 3 above).
type ledger struct {
	s     *Setup
	store Record
	r     record // as last read or written
	// repair: a change stops with errNotInForce unless the record is still
	// there, unmarked, and the resource's (id).
	repair bool
	id     string
}

// update reads the record again, checks it (a repair), applies change to
// it and writes it if that changed it.
func (l *ledger) update(ctx context.Context, change func(*record)) error {
	cur, found, err := loadRecord(ctx, l.store)
	if err != nil {
		return err
	}
	if l.repair && (!found || cur.Deleting || cur.PhysicalID != l.id) {
		return errNotInForce
	}
	before := cur.String()
	change(&cur)
	if after := cur.String(); after != before || !found {
		if err := l.store.Put(ctx, after); err != nil {
			return fmt.Errorf("recording what was added: %w", err)
		}
	}
	l.r = cur
	return nil
}

// beforeWrite is called right before each IAM write: a repair stops if the
// stack's Delete has begun.
func (l *ledger) beforeWrite(ctx context.Context) error {
	l.s.step(ctx, stepIAMWrite)
	return l.update(ctx, func(*record) {})
}

// intend records that a is about to be added to role, right before the IAM
// write that adds it. done is called with the write's error: an error IAM
// answered (nothing was written) takes the intent back; any other (the
// write may have happened) leaves it, so that the Delete undoes it.
func (l *ledger) intend(ctx context.Context, role string, a added) (done func(context.Context, error), err error) {
	l.s.step(ctx, stepIAMWrite)
	var prev added
	var had bool
	if err := l.update(ctx, func(r *record) { prev, had = r.Roles[role]; r.add(role, a) }); err != nil {
		return nil, err
	}
	return func(ctx context.Context, failed error) {
		var answered smithy.APIError
		if failed == nil || !errors.As(failed, &answered) {
			return
		}
		err := l.update(ctx, func(r *record) {
			if had {
				r.Roles[role] = prev
			} else {
				delete(r.Roles, role)
			}
		})
		if err != nil {
			l.s.Log.Warn("the record keeps an addition IAM refused", "role", role, "error", err.Error())
		}
	}, nil
}

// fingerprint names a refusal in the record without holding its text (the
// record is a 4 KB parameter).
func fingerprint(refusal string) string {
	sum := sha256.Sum256([]byte(refusal))
	return hex.EncodeToString(sum[:8])
}
