package falcon

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	fci "github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	"github.com/crowdstrike/gofalcon/falcon/models"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	registriesQuery    = "GET /container-security/queries/registries/v1"
	registriesEntities = "GET /container-security/entities/registries/v1"
	registryTypeECR    = "ecr"
)

// Registries implements onboard.Falcon: every registry in Container
// Security, all pages, complete or an error (fail closed).
func (c *Client) Registries(ctx context.Context) ([]onboard.Registry, error) {
	ids, err := listAll(ctx, registriesQuery, c.concurrency, func(ctx context.Context, offset int64) (page, error) {
		p := fci.NewReadRegistryEntitiesParamsWithContext(ctx)
		p.Limit, p.Offset = ptr(int64(registriesPageMax)), &offset
		ok, err := c.registries.ReadRegistryEntities(p)
		if err != nil {
			return page{}, readError(registriesQuery, err)
		}
		if ok.Payload == nil {
			return page{}, malformed(registriesQuery, "empty body")
		}
		return pageOf(registriesQuery, ok.Payload.Resources, ok.Payload.Meta)
	})
	if err != nil {
		return nil, err
	}
	// A registry the query listed but the entity call did not return (twice)
	// was deleted meanwhile, or the answers are short: either way the plan
	// would not be sound.
	regs, missing, err := entities(ctx, c, ids, c.registryBatch, func(r onboard.Registry) string { return r.ID })
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("incomplete listing from %s: %d of %d listed registries not returned, twice (e.g. %s)",
			registriesEntities, len(missing), len(ids), missing[0])
	}
	return regs, nil
}

func (c *Client) registryBatch(ctx context.Context, ids []string) ([]onboard.Registry, error) {
	p := fci.NewReadRegistryEntitiesByUUIDParamsWithContext(ctx)
	ok, err := c.registries.ReadRegistryEntitiesByUUID(p, repeatedIDs(ids))
	if err != nil {
		return nil, readError(registriesEntities, err)
	}
	if ok.Payload == nil || ok.Payload.Resources == nil {
		return nil, malformed(registriesEntities, "no resources")
	}
	out := make([]onboard.Registry, 0, len(ok.Payload.Resources))
	for i, r := range ok.Payload.Resources {
		reg, err := registryOf(r)
		if err != nil {
			return nil, malformed(registriesEntities, fmt.Sprintf("resources[%d]: %v", i, err))
		}
		out = append(out, reg)
	}
	return out, nil
}

// repeatedIDs sends ids as repeated `ids=` query parameters, as the live
// API reads them; gofalcon's generated parameter is one string.
func repeatedIDs(ids []string) fci.ClientOption {
	return func(op *runtime.ClientOperation) {
		next := op.Params
		op.Params = runtime.ClientRequestWriterFunc(func(r runtime.ClientRequest, reg strfmt.Registry) error {
			if err := next.WriteToRequest(r, reg); err != nil {
				return err
			}
			return r.SetQueryParam("ids", ids...)
		})
	}
}

// registryOf reads what planning needs; a registry without ID or URL cannot
// be planned against safely, so it is an error, not a guess. Credential
// details are write-only on the live API: whatever comes back (nothing, a
// role, masked values) is kept as it is, for the plan to weigh.
func registryOf(r *models.DomainExternalAPIRegistry) (onboard.Registry, error) {
	switch {
	case r == nil:
		return onboard.Registry{}, fmt.Errorf("null registry")
	case r.ID == nil || *r.ID == "":
		return onboard.Registry{}, fmt.Errorf("missing id")
	case r.URL == nil || strings.HasSuffix(onboard.NormalizeURL(*r.URL), "://"):
		return onboard.Registry{}, fmt.Errorf("registry %s: missing url", *r.ID)
	}
	reg := onboard.Registry{ID: *r.ID, URL: onboard.NormalizeURL(*r.URL)}
	if r.UserDefinedAlias != nil {
		reg.Alias = *r.UserDefinedAlias
	}
	if r.State != nil {
		reg.State = *r.State
	}
	if r.StateChangedAt != nil {
		// A time that does not parse is a time not known: it never makes
		// a rejection look like trust still being prepared.
		reg.StateChangedAt, _ = time.Parse(time.RFC3339, *r.StateChangedAt)
	}
	if r.Type != nil && strings.EqualFold(*r.Type, registryTypeECR) {
		reg.AccountID, reg.Region, _ = onboard.ParseECRURL(reg.URL)
	}
	if cred := r.Credential; cred != nil {
		reg.Expired = cred.Expired != nil && *cred.Expired
		if d, ok := cred.Details.(map[string]any); ok {
			reg.Credential.RoleARN, _ = d["aws_iam_role"].(string)
			reg.Credential.ExternalID, _ = d["aws_external_id"].(string)
		}
	}
	return reg, nil
}

// ReadRegistries implements onboard.Falcon: the registrations of ids as
// Falcon shows them now, 100 IDs a call; an ID Falcon does not return is
// left out.
func (c *Client) ReadRegistries(ctx context.Context, ids []string) ([]onboard.Registry, error) {
	regs, _, err := entities(ctx, c, ids, c.registryBatch, func(r onboard.Registry) string { return r.ID })
	return regs, err
}

// answered is what a write's answer shows of the registration: its ID and,
// when the answer carries them, its state, when that last changed and
// whether its credential expired (State stays "" when the answer says
// nothing of it: the caller then reads it back). Nothing else of the
// answer is relied on.
func answered(r *models.DomainExternalAPIRegistry) onboard.Registry {
	var reg onboard.Registry
	if r == nil {
		return reg
	}
	if r.ID != nil {
		reg.ID = *r.ID
	}
	if r.State != nil {
		reg.State = strings.TrimSpace(*r.State)
	}
	if r.StateChangedAt != nil {
		reg.StateChangedAt, _ = time.Parse(time.RFC3339, *r.StateChangedAt)
	}
	if r.Credential != nil && r.Credential.Expired != nil {
		reg.Expired = *r.Credential.Expired
	}
	return reg
}

// CreateRegistry implements onboard.Falcon. It is sent once: a 5xx, a lost
// answer or a success without a registry id comes back as
// onboard.ErrUncertain for the caller to re-check.
func (c *Client) CreateRegistry(ctx context.Context, r onboard.Registry) (onboard.Registry, error) {
	p := fci.NewCreateRegistryEntitiesParamsWithContext(ctx)
	p.Body = &models.RegistryassessmentExternalRegistryPayload{
		Type:             ptr(registryTypeECR),
		URL:              ptr(r.URL),
		UserDefinedAlias: r.Alias,
		Credential:       &models.RegistryassessmentExternalCredPayload{Details: c.details(r)},
	}
	created, err := c.registries.CreateRegistryEntities(p, anySuccess)
	if err != nil {
		return onboard.Registry{}, writeError(err)
	}
	var shown onboard.Registry
	if created.Payload != nil {
		shown = answered(created.Payload.Resources)
	}
	if shown.ID == "" {
		// Falcon answers so a create of a URL it already has; the caller
		// looks the URL up to tell what happened.
		return onboard.Registry{}, fmt.Errorf("%w (success answer without a registry id)", onboard.ErrUncertain)
	}
	return shown, nil
}

// anySuccess makes the create reader accept every 2xx. The live API answers
// a successful create with 200, gofalcon's generated reader accepts only
// 201 (and reads 200 as an error); CrowdStrike's Terraform provider bends
// the reader the same way. Every other status goes to the generated reader.
func anySuccess(op *runtime.ClientOperation) {
	next := op.Reader
	op.Reader = runtime.ClientResponseReaderFunc(func(resp runtime.ClientResponse, c runtime.Consumer) (any, error) {
		if code := resp.Code(); code >= 200 && code < 300 {
			resp = as201{resp}
		}
		return next.ReadResponse(resp, c)
	})
}

// as201 is a success answer presented to the generated reader as the one
// success status it knows.
type as201 struct{ runtime.ClientResponse }

func (as201) Code() int { return http.StatusCreated }

// UpdateRegistry implements onboard.Falcon: PATCH the credential and the
// alias (which records the credential's fingerprint). What the answer shows
// of the registration counts only when it is this registration's.
func (c *Client) UpdateRegistry(ctx context.Context, r onboard.Registry) (onboard.Registry, error) {
	p := fci.NewUpdateRegistryEntitiesParamsWithContext(ctx)
	p.ID = r.ID
	p.Body = &models.RegistryassessmentExternalRegistryPatchPayload{
		Credential:       &models.APICredPayload{Type: ptr(registryTypeECR), Details: c.details(r)},
		UserDefinedAlias: r.Alias,
	}
	updated, err := c.registries.UpdateRegistryEntities(p)
	if err != nil {
		return onboard.Registry{}, writeError(err)
	}
	if updated.Payload == nil {
		return onboard.Registry{}, nil
	}
	if shown := answered(updated.Payload.Resources); shown.ID == r.ID {
		return shown, nil
	}
	return onboard.Registry{}, nil
}

// DeleteRegistry implements onboard.Falcon. A registry already gone (404)
// is deleted.
func (c *Client) DeleteRegistry(ctx context.Context, r onboard.Registry) error {
	p := fci.NewDeleteRegistryEntitiesParamsWithContext(ctx)
	p.Ids = r.ID
	if _, err := c.registries.DeleteRegistryEntities(p); err != nil && statusOf(err) != http.StatusNotFound {
		return writeError(err)
	}
	return nil
}

// details is an ECR registration's credential as CrowdStrike's own clients
// send it (cloud-registry-connections, the Terraform provider): the role and
// the external ID, and for a registry in AWS GovCloud whether the Falcon
// tenant reaches it from a commercial Falcon cloud.
func (c *Client) details(r onboard.Registry) map[string]any {
	d := map[string]any{"aws_iam_role": r.Credential.RoleARN, "aws_external_id": r.Credential.ExternalID}
	if onboard.Partition(r.Region) == "aws-us-gov" {
		d["aws_gov_using_commercial_connection"] = !c.govFalcon
	}
	return d
}
