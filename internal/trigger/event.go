package trigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Errors an invocation payload can be refused with. Neither starts a run:
// no Falcon API call is made.
var (
	// ErrUnsupportedEvent: the payload is not an event this function handles
	// (SQS, S3, SNS, API Gateway, another EventBridge event, not an object …).
	ErrUnsupportedEvent = errors.New("unsupported event")
	// ErrInvalidManualRun: a manual payload with a bad value or a refused field.
	ErrInvalidManualRun = errors.New("invalid manual run")
)

const accepted = `accepted: an EventBridge scheduled event, a CloudFormation custom resource request, ` +
	`or a manual run {} / {"dry_run": true, "account_ids": ["123456789012"], "regions": ["us-east-1"]}`

// Manual is a console invocation. Its fields can only narrow the
// configuration (see onboard.Scope.Narrow) or turn dry run on.
type Manual struct {
	DryRun bool `json:"dry_run"`
	onboard.Narrowing
}

var manualFields = []string{"dry_run", "account_ids", "regions"}

// Scheduled-event sources: EventBridge rules and EventBridge Scheduler.
var scheduleSources = []string{"aws.events", "aws.scheduler"}

const scheduledDetailType = "Scheduled Event"

// Parse tells what kind of invocation raw is, by its shape. It returns an
// events.CloudWatchEvent (schedule), a cfn.Event, an events.SQSEvent (a
// continuation, if it comes from the function's own queue) or a Manual; anything else
// is an error wrapping ErrUnsupportedEvent or ErrInvalidManualRun.
func Parse(raw []byte) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] != '{' && !json.Valid(raw) {
		return nil, unsupported("the payload is not JSON")
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, unsupported("the payload is %s, not a JSON object", jsonKind(raw))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, unsupported("the payload is not a JSON object")
	}
	has := func(k string) bool { _, ok := fields[k]; return ok }

	switch {
	case has("RequestType") || has("ResponseURL"):
		var ev cfn.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, unsupported("malformed CloudFormation request: %v", err)
		}
		if ev.ResponseURL == "" || ev.StackID == "" || ev.RequestID == "" {
			return nil, unsupported("CloudFormation request without ResponseURL, StackId or RequestId")
		}
		return ev, nil

	case has("source") || has("detail-type"):
		var ev events.CloudWatchEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, unsupported("malformed EventBridge event: %v", err)
		}
		if !slices.Contains(scheduleSources, ev.Source) || ev.DetailType != scheduledDetailType {
			return nil, unsupported("EventBridge event %q from %q; only scheduled events (source aws.events or aws.scheduler, detail-type %q) start a run",
				ev.DetailType, ev.Source, scheduledDetailType)
		}
		return ev, nil

	case has("Records"):
		if src := recordSource(fields["Records"]); src != "SQS" {
			return nil, unsupported("%s records", src)
		}
		var ev events.SQSEvent // accepted only from the continuation queue (Handler)
		if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) == 0 {
			return nil, unsupported("malformed SQS event")
		}
		return ev, nil

	case has("httpMethod") || has("requestContext") || has("routeKey"):
		return nil, unsupported("an HTTP request (API Gateway, function URL or load balancer)")
	}
	return parseManual(raw, fields)
}

// parseManual decodes a manual payload strictly: only the known fields with
// their exact names and types, no credential of any kind.
func parseManual(raw []byte, fields map[string]json.RawMessage) (Manual, error) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sensitive(k) {
			return Manual{}, fmt.Errorf("%w: field %q is refused: ecr-onboard never takes credentials or external IDs from an event "+
				"(each account's external ID is read from CrowdStrike CSPM; the API credentials from Secrets Manager)", ErrInvalidManualRun, k)
		}
	}
	for _, k := range keys {
		// encoding/json matches names case-insensitively; be exact.
		if !slices.Contains(manualFields, k) {
			return Manual{}, unsupported("unknown field %q (a manual run takes only %s)", k, strings.Join(manualFields, ", "))
		}
	}
	var m Manual
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Manual{}, fmt.Errorf("%w: field %q must be %s, not a JSON %s", ErrInvalidManualRun, te.Field, wantType(te.Field), te.Value)
		}
		return Manual{}, fmt.Errorf("%w: %v", ErrInvalidManualRun, err)
	}
	if dec.More() {
		return Manual{}, unsupported("more than one JSON value")
	}
	if err := m.Narrowing.Check(); err != nil {
		return Manual{}, fmt.Errorf("%w: %w", ErrInvalidManualRun, err)
	}
	return m, nil
}

func wantType(field string) string {
	if field == "dry_run" {
		return "true or false"
	}
	return "a list of strings"
}

// sensitive reports whether a field name looks like a credential or an
// external ID, whatever its spelling (external_id, ExternalId, clientSecret …).
func sensitive(name string) bool {
	n := strings.NewReplacer("_", "", "-", "", " ", "", ".", "").Replace(strings.ToLower(name))
	for _, s := range []string{"external", "secret", "credential", "password", "token", "clientid", "apikey", "accesskey", "rolearn"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s (%s)", ErrUnsupportedEvent, fmt.Sprintf(format, args...), accepted)
}

func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '[':
		return "a JSON array"
	case '"':
		return "a JSON string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a JSON boolean"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a JSON number"
	}
	return "not JSON"
}

// recordSource names the service of a Records event (SQS, SNS, S3 …).
func recordSource(records json.RawMessage) string {
	var rs []struct {
		EventSource  string `json:"eventSource"`
		EventSource2 string `json:"EventSource"`
	}
	if json.Unmarshal(records, &rs) == nil && len(rs) > 0 {
		src := rs[0].EventSource
		if src == "" {
			src = rs[0].EventSource2
		}
		switch src {
		case "aws:sqs":
			return "SQS"
		case "aws:sns":
			return "SNS"
		case "aws:s3":
			return "S3"
		case "aws:dynamodb":
			return "DynamoDB stream"
		case "aws:kinesis":
			return "Kinesis"
		case "":
		default:
			return src
		}
	}
	return "event-source"
}
