package falconsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"

	"github.com/go-openapi/strfmt"
)

// RegistryAssessmentPrincipal is the CrowdStrike role that assumes customer
// roles to read container registries. A role must trust it for registry
// credential validation to succeed.
const RegistryAssessmentPrincipal = "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"

var roleARN = regexp.MustCompile(`^arn:aws(-us-gov|-cn)?:iam::[0-9]{12}:role/.+$`)

// validatable is implemented by gofalcon models.
type validatable interface {
	Validate(strfmt.Registry) error
}

// decodeValid decodes the JSON body into v and validates it; it returns a
// non-empty message on failure.
func decodeValid(r *http.Request, v validatable) string {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return "invalid request body: " + err.Error()
	}
	if err := v.Validate(strfmt.Default); err != nil {
		return "invalid request body: " + err.Error()
	}
	return ""
}

// credDetails extracts aws_iam_role (required) and aws_external_id
// (optional) from a credential details object.
func credDetails(d any) (arn, extID, msg string) {
	m, ok := d.(map[string]any)
	if !ok {
		return "", "", "credential details must be an object"
	}
	arn, _ = m["aws_iam_role"].(string)
	if arn == "" {
		return "", "", "credential details: aws_iam_role is required"
	}
	if !roleARN.MatchString(arn) {
		return "", "", fmt.Sprintf("credential details: invalid aws_iam_role %q", arn)
	}
	if v, present := m["aws_external_id"]; present {
		if extID, ok = v.(string); !ok {
			return "", "", "credential details: aws_external_id must be a string"
		}
	}
	return arn, extID, ""
}

// assumeRole simulates RegistryAssessmentPrincipal calling sts:AssumeRole on
// arn with extID. It fails unless the role exists, trusts the principal and
// its external ID matches. Caller holds mu.
func (s *Sim) assumeRole(arn, extID string) string {
	r, ok := s.roles[arn]
	if ok && r.trusts && r.externalID == extID {
		return ""
	}
	return fmt.Sprintf("credential validation failed: unable to assume role %s with the provided external id (principal %s): AccessDenied", arn, RegistryAssessmentPrincipal)
}
