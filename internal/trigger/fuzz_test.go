package trigger_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

// FuzzParse: any payload is one of the accepted shapes or a refusal wrapping
// one of the two refusal errors; a manual run never carries an invalid
// account or region.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../deploy/events/*.json")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{scheduled, scheduledByScheduler, `{}`, `{"dry_run":true,"external_id":"x"}`, `{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}`, `[]`, `null`, `{"account_ids":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := trigger.Parse(raw)
		if err != nil {
			if !errors.Is(err, trigger.ErrUnsupportedEvent) && !errors.Is(err, trigger.ErrInvalidManualRun) {
				t.Fatalf("refusal without a known cause: %v", err)
			}
			return
		}
		switch ev := ev.(type) {
		case cfn.Event, events.CloudWatchEvent, events.SQSEvent:
		case trigger.Manual:
			for _, a := range ev.AccountIDs {
				if !onboard.ValidAccountID(a) {
					t.Fatalf("manual run accepted account %q", a)
				}
			}
			for _, r := range ev.Regions {
				if !onboard.ValidRegion(r) {
					t.Fatalf("manual run accepted region %q", r)
				}
			}
		default:
			t.Fatalf("unexpected event type %T", ev)
		}
	})
}
