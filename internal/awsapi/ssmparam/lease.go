package ssmparam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Lease lets one holder at a time work, across processes: the member
// setup's invocations of one account (internal/membersetup), which
// CloudFormation, a schedule and IAM's events start independently.
//
// Parameter Store has no conditional write, but it orders every write of a
// parameter: each PutParameter makes the next version, and
// GetParameterHistory shows them all with the time SSM saved them. So the
// lease is a log in one parameter (Name): each try to take it appends a
// claim (who, and until when), and everyone reads the same verdict from the
// log: a claim takes the lease when it was saved while the lease was free
// (no claim yet, or the last taking claim's Until had passed); any other
// claim is void. The holder ends the lease by deleting the parameter, log
// and all: every claim saved after its own was void (the lease was not
// free), so nothing else is lost. A holder that died leaves its claim,
// which frees the lease at its Until: a holder must choose an Until it
// cannot outlive (the member setup: its invocation's deadline, plus a
// margin for the clocks of Lambda and SSM).
//
// SSM keeps a parameter's last 100 versions; a log that may have lost its
// start (100 claims in one lease: not in practice) is read as taken until
// the latest Until in it, so that nobody takes it on a guess.
type Lease struct {
	SSM  SSM
	Name string
	// Wait pauses between tries (nil: about a second, or until ctx ends).
	Wait func(ctx context.Context) error
	// Now is the clock the holder's Until is judged by (nil: time.Now).
	Now func() time.Time
}

// maxVersions is how many versions of a parameter SSM keeps (Systems
// Manager User Guide, "Working with parameter versions").
const maxVersions = 100

// claim is one entry of the log (the parameter's value, JSON).
type claim struct {
	Holder string    `json:"holder"`
	Claim  string    `json:"claim"` // unique to one try
	Until  time.Time `json:"until"`
}

// Acquire returns once holder has the lease, until until, or an error when
// ctx ends first or SSM fails. release ends the lease; it is safe to call
// after the lease has run out (then someone else may hold it, and it is
// left alone).
func (l Lease) Acquire(ctx context.Context, holder string, until time.Time) (release func(context.Context) error, err error) {
	for try := 1; ; try++ {
		current, err := l.holder(ctx)
		if err != nil {
			return nil, err
		}
		if current == nil || !current.Until.After(l.now()) {
			mine := claim{Holder: holder, Claim: fmt.Sprintf("%s#%d", holder, try), Until: until.UTC()}
			v, _ := json.Marshal(mine)
			if _, err := l.SSM.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(l.Name), Value: aws.String(string(v)),
				Type: types.ParameterTypeString, Tier: types.ParameterTierStandard, Overwrite: aws.Bool(true)}); err != nil {
				return nil, fmt.Errorf("ssm:PutParameter %s (taking the lease): %w", l.Name, err)
			}
			if current, err = l.holder(ctx); err != nil {
				return nil, err
			}
			if current != nil && current.Claim == mine.Claim {
				return func(ctx context.Context) error { return l.release(ctx, mine.Claim) }, nil
			}
		}
		if err := l.wait(ctx); err != nil {
			held := "another invocation"
			if current != nil {
				held = fmt.Sprintf("%s, until %s", current.Holder, current.Until.Format(time.RFC3339))
			}
			return nil, fmt.Errorf("waiting for the lease %s (held by %s): %w", l.Name, held, err)
		}
	}
}

// release deletes the log if the lease is still claim's.
func (l Lease) release(ctx context.Context, claim string) error {
	current, err := l.holder(ctx)
	if err != nil || current == nil || current.Claim != claim {
		return err
	}
	_, err = l.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(l.Name)})
	var missing *types.ParameterNotFound
	if err != nil && !errors.As(err, &missing) {
		return fmt.Errorf("ssm:DeleteParameter %s (ending the lease): %w", l.Name, err)
	}
	return nil
}

// holder is the claim that holds the lease by the log, nil when none did
// (no log). Its Until may have passed.
func (l Lease) holder(ctx context.Context) (*claim, error) {
	var entries []types.ParameterHistory
	p := ssm.NewGetParameterHistoryPaginator(l.SSM, &ssm.GetParameterHistoryInput{Name: aws.String(l.Name), MaxResults: aws.Int32(50)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		var missing *types.ParameterNotFound
		switch {
		case errors.As(err, &missing):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("ssm:GetParameterHistory %s (reading the lease): %w", l.Name, err)
		}
		entries = append(entries, out.Parameters...)
	}
	slices.SortFunc(entries, func(a, b types.ParameterHistory) int { return int(a.Version - b.Version) })
	var current *claim
	if len(entries) >= maxVersions { // the log may have lost its start
		current = &claim{Holder: "an earlier claim"}
		for _, e := range entries {
			var c claim
			if json.Unmarshal([]byte(aws.ToString(e.Value)), &c) == nil && c.Until.After(current.Until) {
				current.Until = c.Until
			}
		}
	}
	for _, e := range entries {
		var c claim
		if err := json.Unmarshal([]byte(aws.ToString(e.Value)), &c); err != nil || c.Claim == "" || e.LastModifiedDate == nil {
			return nil, fmt.Errorf("the lease %s holds version %d, which is no claim of a lease: %q", l.Name, e.Version, aws.ToString(e.Value))
		}
		if current == nil || e.LastModifiedDate.After(current.Until) {
			current = &c
		}
	}
	return current, nil
}

func (l Lease) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l Lease) wait(ctx context.Context) error {
	if l.Wait != nil {
		return l.Wait(ctx)
	}
	t := time.NewTimer(750*time.Millisecond + rand.N(500*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
