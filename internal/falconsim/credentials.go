package falconsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/go-openapi/strfmt"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
)

// RegistryAssessmentPrincipal is the CrowdStrike role that assumes customer
// roles to read container registries (commercial partition). A role must
// trust it for registry credential validation to succeed.
var RegistryAssessmentPrincipal, _ = crowdstrike.RegistryAssessmentPrincipal("aws")

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

// credential is what a registry write sent in credential.details.
type credential struct {
	role, externalID   string
	govUsingCommercial *bool
}

// credDetails reads a credential details object: aws_iam_role (required),
// aws_external_id (optional), and for a registry in AWS GovCloud
// aws_gov_using_commercial_connection, which must say whether the tenant's
// Falcon cloud is commercial. It returns a non-empty message on failure.
func (s *Sim) credDetails(d any, registryURL string) (credential, string) {
	m, ok := d.(map[string]any)
	if !ok {
		return credential{}, "credential details must be an object"
	}
	var c credential
	c.role, _ = m["aws_iam_role"].(string)
	if c.role == "" {
		return credential{}, "credential details: aws_iam_role is required"
	}
	if !roleARN.MatchString(c.role) {
		return credential{}, fmt.Sprintf("credential details: invalid aws_iam_role %q", c.role)
	}
	if v, present := m["aws_external_id"]; present {
		if c.externalID, ok = v.(string); !ok {
			return credential{}, "credential details: aws_external_id must be a string"
		}
	}
	if v, present := m["aws_gov_using_commercial_connection"]; present {
		b, ok := v.(bool)
		if !ok {
			return credential{}, "credential details: aws_gov_using_commercial_connection must be a boolean"
		}
		c.govUsingCommercial = &b
	}
	if strings.Contains(registryURL, ".dkr.ecr.us-gov-") {
		if c.govUsingCommercial == nil || *c.govUsingCommercial == s.opts.GovCloud {
			return credential{}, fmt.Sprintf("credential details: a registry in AWS GovCloud needs aws_gov_using_commercial_connection=%t from this Falcon cloud", !s.opts.GovCloud)
		}
	}
	return c, ""
}

// assumeRole simulates RegistryAssessmentPrincipal calling sts:AssumeRole on
// arn with extID. It fails unless the role exists, trusts the principal and
// its external ID matches. Caller holds mu.
func (s *Sim) assumeRole(arn, extID string) string {
	r, ok := s.roles[arn]
	if ok && r.trusts && r.externalID == extID {
		if !s.propagated(arn) {
			return fmt.Sprintf("failed to validate registry credential: unable to assume role %s (principal %s): AccessDenied", arn, RegistryAssessmentPrincipal)
		}
		return ""
	}
	return fmt.Sprintf("credential validation failed: unable to assume role %s with the provided external id (principal %s): AccessDenied", arn, RegistryAssessmentPrincipal)
}
