package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

// errorType is what aws-lambda-go reports as a function error's errorType:
// the name of the returned error's type (lambda/errors.go).
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func TestClassify(t *testing.T) {
	cfgErr := &config.Error{Var: "FALCON_CLOUD", Problem: `unknown cloud "mars-1"`}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: SNS records", trigger.ErrUnsupportedEvent), "UnsupportedEvent"},
		{fmt.Errorf("%w: field \"external_id\" is refused", trigger.ErrInvalidManualRun), "InvalidRequest"},
		{fmt.Errorf("%w: CloudFormation request of stack \"x\" refused", trigger.ErrForeignCustomResource), "ForeignCustomResource"},
		{fmt.Errorf("cold start failed: %w", cfgErr), "InvalidConfiguration"},
		{fmt.Errorf("stopped writing: %w (HTTP 403)", onboard.ErrAccessDenied), "AccessDenied"},
		{fmt.Errorf("listing CSPM accounts: %w", onboard.ErrAccessDenied), "AccessDenied"},
		{fmt.Errorf("listing CSPM accounts: %w", context.DeadlineExceeded), "DeadlineExceeded"},
		{fmt.Errorf("listing: %w", errors.Join(errors.New("HTTP 500"), onboard.ErrListingFailed)), "ListingFailed"},
		{fmt.Errorf("listing: %w", errors.Join(context.DeadlineExceeded, onboard.ErrListingFailed)), "DeadlineExceeded"},
		{errors.New("something else"), "RunFailed"},
	} {
		got := trigger.Classify(c.err)
		assert.Equal(t, c.want, errorType(got), "%v", c.err)
		assert.Equal(t, c.err.Error(), got.Error(), "the message is the error's own")
		assert.ErrorIs(t, got, c.err, "the classified error is still in the chain")
		assert.Same(t, got, trigger.Classify(got), "classifying twice changes nothing")
	}
	assert.NoError(t, trigger.Classify(nil))

	// errors.As reaches both the class and what it wraps.
	got := trigger.Classify(fmt.Errorf("cold start failed: %w", cfgErr))
	var ic *trigger.InvalidConfiguration
	require.ErrorAs(t, got, &ic)
	var ce *config.Error
	require.ErrorAs(t, got, &ce)
	assert.Equal(t, "FALCON_CLOUD", ce.Var)
}

// Every class through the handler, as Lambda would report it.
func TestHandlerErrorTypes(t *testing.T) {
	check := func(t *testing.T, err error, want string) {
		t.Helper()
		require.Error(t, err)
		assert.Equal(t, want, errorType(err), "%v", err)
	}
	t.Run("UnsupportedEvent", func(t *testing.T) {
		e := newEnv(t, falconsim.Options{}, nil)
		for _, p := range []string{`not json at all`, `[]`, `{"Records":[{"eventSource":"aws:s3"}]}`} {
			_, err := e.invoke(context.Background(), t, []byte(p))
			check(t, err, "UnsupportedEvent")
			assert.ErrorIs(t, err, trigger.ErrUnsupportedEvent)
		}
		assert.Zero(t, e.sim.Stats().Requests)
	})
	t.Run("InvalidRequest", func(t *testing.T) {
		e := newEnv(t, falconsim.Options{}, nil)
		_, err := e.invoke(context.Background(), t, []byte(`{"external_id":"x"}`))
		check(t, err, "InvalidRequest")
		assert.ErrorIs(t, err, trigger.ErrInvalidManualRun)
	})
	t.Run("InvalidConfiguration", func(t *testing.T) {
		h := &trigger.Handler{InitErr: &config.Error{Var: "REGIONS", Problem: "bad"}, Logger: discard(), Metrics: &syncBuffer{}}
		_, err := invoke(context.Background(), t, h, []byte(scheduled))
		check(t, err, "InvalidConfiguration")
	})
	t.Run("ColdStartFailed", func(t *testing.T) {
		h := &trigger.Handler{InitErr: errors.New("reading FALCON_SECRET_ARN: AccessDeniedException"), Logger: discard(), Metrics: &syncBuffer{},
			Connect: func(context.Context) (*onboard.Runner, error) { return nil, errors.New("still AccessDeniedException") }}
		_, err := invoke(context.Background(), t, h, []byte(`{}`))
		check(t, err, "ColdStartFailed")
		assert.Contains(t, err.Error(), "cold start failed: still AccessDeniedException")
	})
	t.Run("AccessDenied", func(t *testing.T) {
		e := newEnv(t, falconsim.Options{}, nil)
		e.sim.InjectFault(falconsim.Fault{Method: "GET", Path: "/cloud-security-registration-aws/queries/account/v1", Status: 403})
		_, err := e.invoke(context.Background(), t, []byte(scheduled))
		check(t, err, "AccessDenied")
		assert.ErrorIs(t, err, onboard.ErrAccessDenied)
	})
	t.Run("ListingFailed", func(t *testing.T) {
		e := newEnv(t, falconsim.Options{}, nil)
		e.sim.InjectFault(falconsim.Fault{Method: "GET", Path: "/container-security/queries/registries/v1", Status: 500, Times: 100})
		_, err := e.invoke(context.Background(), t, []byte(scheduled))
		check(t, err, "ListingFailed")
		assert.Contains(t, err.Error(), "listing Container Security registries")
		assert.Zero(t, e.sim.Stats().Writes())
	})
	t.Run("DeadlineExceeded", func(t *testing.T) {
		// The accounts listing is held until the run's deadline has passed.
		e := newEnv(t, falconsim.Options{}, nil)
		e.h.Runner.Falcon = accountsAfterDeadline{e.h.Runner.Falcon}
		e.h.Reserve = 100 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := e.invoke(ctx, t, []byte(scheduled))
		check(t, err, "DeadlineExceeded")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, e.sim.Stats().Writes())
	})
	t.Run("InternalError", func(t *testing.T) {
		h := &trigger.Handler{Runner: &onboard.Runner{Falcon: panicFalcon{}}, Logger: discard(), Metrics: &syncBuffer{}}
		_, err := invoke(context.Background(), t, h, []byte(scheduled))
		check(t, err, "InternalError")
		assert.Contains(t, err.Error(), "internal error (panic: boom in Accounts)")
	})
}

// A refused invocation leaves one JSON log line with its run_id, the reason
// and the error type, whatever refused it.
func TestRefusalsAreLogged(t *testing.T) {
	for name, payload := range map[string]string{
		"not JSON":           `garbage`,
		"unknown shape":      `{"hello":"world"}`,
		"external ID":        `{"dry_run":true,"external_id":"x"}`,
		"foreign SQS queue":  `{"Records":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:111111111111:other","body":"{}"}]}`,
		"malformed continue": string(sqsEvent(t, `{"run_id":"r","depth":1,"external_id":"x"}`)),
		"another stack's custom resource": `{"RequestType":"Delete","StackId":"arn:aws:cloudformation:us-east-1:111111111111:stack/other/1",` +
			`"RequestId":"r","LogicalResourceId":"InitialReconcile","PhysicalResourceId":"p","ResponseURL":"https://example.com/x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, falconsim.Options{}, nil)
			e.h.QueueARN = queueARN
			_, err := e.invoke(context.Background(), t, []byte(payload))
			require.Error(t, err)

			lines := e.logLines(t)
			require.Len(t, lines, 1, "one line for a refusal: %s", e.logs.String())
			l := lines[0]
			assert.Equal(t, "invocation refused", l["msg"])
			assert.Equal(t, "ERROR", l["level"])
			assert.NotEmpty(t, l["run_id"])
			assert.Equal(t, "c6af9ac6-7b61-11e6-9a41-93e812345678", l["aws_request_id"])
			assert.Equal(t, err.Error(), l["reason"])
			assert.Equal(t, errorType(err), l["error_type"])
			assert.True(t, strings.HasPrefix(err.Error(), "unsupported event") || strings.HasPrefix(err.Error(), "invalid manual run") ||
				strings.HasPrefix(err.Error(), "foreign custom resource"), err.Error())
			assert.Zero(t, e.sim.Stats().Requests)
			assert.Empty(t, e.metrics.String())
		})
	}
}
