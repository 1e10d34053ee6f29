package falcon

import (
	"context"
	"fmt"
	"strings"

	fci "github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	"github.com/crowdstrike/gofalcon/falcon/models"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	registriesQuery    = "GET /container-security/queries/registries/v1"
	registriesEntities = "GET /container-security/entities/registries/v1"
	registryTypeECR    = "ecr"
)

// Registries implements onboard.Falcon: every registry in Container
// Security, all pages. Any failure fails the whole listing (fail closed).
func (c *Client) Registries(ctx context.Context) ([]onboard.Registry, error) {
	ids, err := allIDs(ctx, queryLimit, c.concurrency, func(ctx context.Context, offset int64) (page, error) {
		p := fci.NewReadRegistryEntitiesParamsWithContext(ctx)
		p.Limit, p.Offset = ptr(int64(queryLimit)), &offset
		ok, err := c.registries.ReadRegistryEntities(p)
		if err != nil {
			return page{}, readError("listing registries", registriesQuery, err)
		}
		if ok.Payload == nil || ok.Payload.Resources == nil {
			return page{}, malformed(registriesQuery, "no resources")
		}
		return page{ids: ok.Payload.Resources, total: total(ok.Payload.Meta)}, nil
	})
	if err != nil {
		return nil, err
	}
	return inBatches(ctx, ids, batchSize, c.concurrency, c.registryBatch)
}

func (c *Client) registryBatch(ctx context.Context, ids []string) ([]onboard.Registry, error) {
	p := fci.NewReadRegistryEntitiesByUUIDParamsWithContext(ctx)
	p.Ids = strings.Join(ids, ",")
	ok, err := c.registries.ReadRegistryEntitiesByUUID(p)
	if err != nil {
		return nil, readError("reading registries", registriesEntities, err)
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

// registryOf reads what planning needs; a registry without ID or URL cannot
// be planned against safely, so it is an error, not a guess.
func registryOf(r *models.DomainExternalAPIRegistry) (onboard.Registry, error) {
	switch {
	case r == nil:
		return onboard.Registry{}, fmt.Errorf("null registry")
	case r.ID == nil || *r.ID == "":
		return onboard.Registry{}, fmt.Errorf("missing id")
	case r.URL == nil || onboard.NormalizeURL(*r.URL) == "https://":
		return onboard.Registry{}, fmt.Errorf("registry %s: missing url", *r.ID)
	}
	reg := onboard.Registry{ID: *r.ID, URL: onboard.NormalizeURL(*r.URL)}
	if r.UserDefinedAlias != nil {
		reg.Alias = *r.UserDefinedAlias
	}
	if r.Type != nil && strings.EqualFold(*r.Type, registryTypeECR) {
		reg.AccountID, reg.Region, _ = onboard.ParseECRURL(reg.URL)
	}
	if r.Credential != nil {
		if d, ok := r.Credential.Details.(map[string]any); ok {
			reg.Credential.RoleARN, _ = d["aws_iam_role"].(string)
			reg.Credential.ExternalID, _ = d["aws_external_id"].(string)
		}
	}
	return reg, nil
}

// CreateRegistry implements onboard.Falcon. It is sent once: a 5xx or lost
// answer comes back as onboard.ErrUncertain for the caller to re-check.
func (c *Client) CreateRegistry(ctx context.Context, r onboard.Registry) (string, error) {
	p := fci.NewCreateRegistryEntitiesParamsWithContext(ctx)
	p.Body = &models.RegistryassessmentExternalRegistryPayload{
		Type:             ptr(registryTypeECR),
		URL:              ptr(r.URL),
		UserDefinedAlias: r.Alias,
		Credential:       &models.RegistryassessmentExternalCredPayload{Details: details(r.Credential)},
	}
	created, err := c.registries.CreateRegistryEntities(p)
	if err != nil {
		return "", writeError(err)
	}
	if created.Payload == nil || created.Payload.Resources == nil || created.Payload.Resources.ID == nil {
		return "", fmt.Errorf("%w (201 without a registry id)", onboard.ErrUncertain)
	}
	return *created.Payload.Resources.ID, nil
}

// UpdateRegistry implements onboard.Falcon: PATCH the credential.
func (c *Client) UpdateRegistry(ctx context.Context, r onboard.Registry) error {
	p := fci.NewUpdateRegistryEntitiesParamsWithContext(ctx)
	p.ID = r.ID
	p.Body = &models.RegistryassessmentExternalRegistryPatchPayload{
		Credential: &models.APICredPayload{Type: ptr(registryTypeECR), Details: details(r.Credential)},
	}
	if _, err := c.registries.UpdateRegistryEntities(p); err != nil {
		return writeError(err)
	}
	return nil
}

// DeleteRegistry implements onboard.Falcon.
func (c *Client) DeleteRegistry(ctx context.Context, r onboard.Registry) error {
	p := fci.NewDeleteRegistryEntitiesParamsWithContext(ctx)
	p.Ids = r.ID
	if _, err := c.registries.DeleteRegistryEntities(p); err != nil {
		return writeError(err)
	}
	return nil
}

func details(cred onboard.Credential) map[string]string {
	return map[string]string{"aws_iam_role": cred.RoleARN, "aws_external_id": cred.ExternalID}
}
