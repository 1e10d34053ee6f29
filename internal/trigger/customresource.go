package trigger

import (
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/cfn"
)

// ErrForeignCustomResource: a CloudFormation custom-resource request that is
// not for this function's own stack and resource (or a function that does
// not know its stack). It is refused before anything happens: no Falcon API
// call, and no response PUT to the ResponseURL it names.
var ErrForeignCustomResource = errors.New("foreign custom resource")

// CustomResource is the one CloudFormation custom resource this function
// answers: the stack that deployed it and the resource's logical ID in that
// stack. template.yaml passes both to the function (STACK_ID from
// AWS::StackId, STACK_CUSTOM_RESOURCE "InitialReconcile").
//
// Anyone allowed to invoke the function can send it a payload shaped like a
// CloudFormation request, with any StackId and any ResponseURL: a sample
// event pasted into the console, another stack's custom resource pointed at
// this function. Only a request naming this stack and this resource is
// obeyed (Check); and of those, only a Delete of the physical ID this
// resource was given (PhysicalID) may disconnect registrations
// (Disconnects). Where the response goes is not checked, so tests and
// people can point ResponseURL at a receiver of their own.
type CustomResource struct {
	StackID   string // arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID
	LogicalID string // the resource's logical ID in the template
}

// PhysicalID is the physical resource ID this resource is given: stable for
// the stack and resource (a different ID would make CloudFormation replace
// the resource and delete the old one).
func (r CustomResource) PhysicalID() string { return PhysicalResourceID(r.StackID, r.LogicalID) }

// failedID is the physical ID a failed Create answers, so that the Delete
// CloudFormation sends on rollback is recognised and does nothing.
func (r CustomResource) failedID() string { return failedResourceID(r.StackID, r.LogicalID) }

// Check refuses a request that is not for this resource, with an error
// wrapping ErrForeignCustomResource that says why.
func (r CustomResource) Check(ev cfn.Event) error {
	switch {
	case r.StackID == "" || r.LogicalID == "":
		return fmt.Errorf("%w: CloudFormation request refused: this function was deployed without STACK_ID and STACK_CUSTOM_RESOURCE "+
			"(its stack's ID and its custom resource's logical ID), so it cannot tell its own stack's requests from anyone else's; "+
			"deploy it with template.yaml, which sets both", ErrForeignCustomResource)
	case ev.StackID != r.StackID:
		return fmt.Errorf("%w: CloudFormation request of stack %q refused: this function answers only its own stack's custom resource (%s of %s)",
			ErrForeignCustomResource, ev.StackID, r.LogicalID, r.StackID)
	case ev.LogicalResourceID != r.LogicalID:
		return fmt.Errorf("%w: CloudFormation request of resource %q refused: this function answers only %s of %s",
			ErrForeignCustomResource, ev.LogicalResourceID, r.LogicalID, r.StackID)
	}
	return nil
}

// Disconnects reports whether a Delete of physicalID (from a request Check
// accepted) may disconnect this stack's registrations: only a Delete of the
// ID this resource was given. Another ID — the failed-Create marker, the ID
// CloudFormation makes up for a resource whose Create never answered, an ID
// typed by hand — names nothing this function created.
func (r CustomResource) Disconnects(physicalID string) bool { return physicalID == r.PhysicalID() }
