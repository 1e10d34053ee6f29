package trigger

import (
	"context"
	"errors"
	"reflect"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// The classes of a failed invocation. Lambda reports a function error as
// {"errorType", "errorMessage"}, and aws-lambda-go names errorType after the
// returned error's Go type; so each class is its own type, and the console's
// Test tab, the Invoke API and CloudWatch say what happened (errorType
// "AccessDenied") before anyone reads a log. Classify makes them; each wraps
// the error it classifies, so errors.Is and errors.As see through it.
type (
	// UnsupportedEvent: the payload is none of the shapes this function
	// handles (or an SQS message from a queue other than its own). No API
	// call was made.
	UnsupportedEvent struct{ classified }
	// InvalidRequest: a manual run with a bad value or a refused field
	// (a credential or an external ID). No API call was made.
	InvalidRequest struct{ classified }
	// ForeignCustomResource: a CloudFormation custom-resource request that
	// is not for this function's own stack and resource (CustomResource), or
	// a function deployed without STACK_ID. No API call was made and no
	// response was PUT.
	ForeignCustomResource struct{ classified }
	// InvalidConfiguration: an environment variable (a stack parameter) is
	// invalid; the message names it. Fixed by updating the stack.
	InvalidConfiguration struct{ classified }
	// ColdStartFailed: the Falcon API client could not be set up (the
	// secret unreadable, the cloud not reachable); retried on the next
	// invocation.
	ColdStartFailed struct{ classified }
	// AccessDenied: the Falcon API answered 401/403; the message names the
	// API scopes the client needs.
	AccessDenied struct{ classified }
	// DeadlineExceeded: the invocation ran out of time before the run could
	// list what it needs (a run that runs short while writing is not an
	// error: it returns a partial report).
	DeadlineExceeded struct{ classified }
	// ListingFailed: CSPM accounts or Container Security registries could
	// not be listed; nothing was written (fail closed).
	ListingFailed struct{ classified }
	// InternalError: a bug (a panic); the message gives the run_id to look
	// up in the log stream.
	InternalError struct{ classified }
	// RunFailed: any other fatal error of a run.
	RunFailed struct{ classified }
)

// classified carries the error a class wraps.
type classified struct{ err error }

func (c classified) Error() string { return c.err.Error() }
func (c classified) Unwrap() error { return c.err }

// Markers for failures this package finds itself, kept out of messages.
var (
	errColdStart = errors.New("cold start failed")
	errInternal  = errors.New("internal error")
)

// Classify returns err as its class (one of the types above), or nil for
// nil. The first match wins, from the most specific cause: a configuration
// error is InvalidConfiguration even when it stopped a cold start, any other
// cold-start failure is ColdStartFailed, and a listing cut by the deadline is
// DeadlineExceeded. An error already classified is returned as it is.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var cfgErr *config.Error
	c := classified{err}
	switch {
	case isClassified(err):
		return err
	case errors.Is(err, errInternal):
		return &InternalError{c}
	case errors.Is(err, ErrUnsupportedEvent):
		return &UnsupportedEvent{c}
	case errors.Is(err, ErrInvalidManualRun):
		return &InvalidRequest{c}
	case errors.Is(err, ErrForeignCustomResource):
		return &ForeignCustomResource{c}
	case errors.As(err, &cfgErr):
		return &InvalidConfiguration{c}
	case errors.Is(err, errColdStart):
		return &ColdStartFailed{c}
	case errors.Is(err, onboard.ErrAccessDenied):
		return &AccessDenied{c}
	case errors.Is(err, context.DeadlineExceeded):
		return &DeadlineExceeded{c}
	case errors.Is(err, onboard.ErrListingFailed):
		return &ListingFailed{c}
	}
	return &RunFailed{c}
}

func isClassified(err error) bool {
	switch err.(type) {
	case *UnsupportedEvent, *InvalidRequest, *ForeignCustomResource, *InvalidConfiguration, *ColdStartFailed, *AccessDenied,
		*DeadlineExceeded, *ListingFailed, *InternalError, *RunFailed:
		return true
	}
	return false
}

// refused reports whether err is an invocation refused before any API call
// (as opposed to a run that failed).
func refused(err error) bool {
	var u *UnsupportedEvent
	var r *InvalidRequest
	var f *ForeignCustomResource
	return errors.As(err, &u) || errors.As(err, &r) || errors.As(err, &f)
}

// pastDeadline marks a run error that came after the run's deadline passed
// (a read cut by the deadline does not always keep context.DeadlineExceeded
// in its chain); its message is the error's own.
type pastDeadline struct{ error }

func (e pastDeadline) Unwrap() []error { return []error{e.error, context.DeadlineExceeded} }

// errorType is the errorType Lambda reports for err (aws-lambda-go: the
// name of its Go type).
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
