package wsman

import (
	"context"
	"strings"
)

// Get reads one instance (§9.1: empty body, optional header selectors).
func (c *Client) Get(ctx context.Context, resourceURI string, selectors ...Selector) (*Response, error) {
	return c.Do(ctx, &Request{Action: ActionGet, ResourceURI: resourceURI, Selectors: selectors})
}

// Put replaces an instance with the given properties, written in order inside `<h:CLASS>`; AMT echoes the instance.
func (c *Client) Put(ctx context.Context, resourceURI string, props []Param, selectors ...Selector) (*Response, error) {
	return c.Do(ctx, &Request{
		Action: ActionPut, ResourceURI: resourceURI, Selectors: selectors, Body: InstanceBody(resourceURI, props...),
	})
}

// Delete removes the selected instance.
func (c *Client) Delete(ctx context.Context, resourceURI string, selectors ...Selector) error {
	_, err := c.Do(ctx, &Request{Action: ActionDelete, ResourceURI: resourceURI, Selectors: selectors})
	return err
}

// Enumerate starts an enumeration and returns its context.
func (c *Client) Enumerate(ctx context.Context, resourceURI string) (string, error) {
	r, err := c.Do(ctx, &Request{Action: ActionEnumerate, ResourceURI: resourceURI, Body: EnumerateBody})
	if err != nil {
		return "", err
	}
	var body struct {
		EnumerationContext string `xml:"EnumerationContext"`
	}
	if err := r.Decode(&body); err != nil {
		return "", err
	}
	if body.EnumerationContext = strings.TrimSpace(body.EnumerationContext); body.EnumerationContext == "" {
		return "", soapErr("EnumerateResponse without EnumerationContext")
	}
	return body.EnumerationContext, nil
}

// PullResult is one page of an enumeration.
type PullResult struct {
	Items []Item
	Next  string // context for the next Pull when End is false
	End   bool   // EndOfSequence was present
}

// Pull fetches the next page of an enumeration.
func (c *Client) Pull(ctx context.Context, resourceURI, enumerationContext string) (PullResult, error) {
	r, err := c.Do(ctx, &Request{Action: ActionPull, ResourceURI: resourceURI, Body: PullBody(enumerationContext)})
	if err != nil {
		return PullResult{}, err
	}
	return r.pull()
}

// maxPulls bounds an enumeration; AMT sends every instance of a class in one or a few pages.
const maxPulls = 64

// EnumerateAll enumerates a class and pulls until EndOfSequence (neither MPS nor go-wsman loop; AMT may page).
func (c *Client) EnumerateAll(ctx context.Context, resourceURI string) ([]Item, error) {
	enumCtx, err := c.Enumerate(ctx, resourceURI)
	if err != nil {
		return nil, err
	}
	var all []Item
	for range maxPulls {
		page, err := c.Pull(ctx, resourceURI, enumCtx)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.End {
			return all, nil
		}
		if page.Next == "" {
			return nil, soapErr("PullResponse for %s has neither EndOfSequence nor EnumerationContext", ClassOf(resourceURI))
		}
		enumCtx = page.Next
	}
	return nil, soapErr("enumeration of %s did not end after %d pulls", ClassOf(resourceURI), maxPulls)
}

// Invoke calls a method (action "<resource URI>/<method>", body `<h:METHOD_INPUT>`). A non-zero ReturnValue is
// reported as *ReturnValueError together with the Response, so callers that tolerate it (RPS does for several
// methods, protocol-rps-activation §2) can still read the outputs.
func (c *Client) Invoke(ctx context.Context, resourceURI, method string, params ...Param) (*Response, error) {
	r, err := c.Do(ctx, &Request{
		Action: resourceURI + "/" + method, ResourceURI: resourceURI, Body: MethodBody(resourceURI, method, params...),
	})
	if err != nil {
		return nil, err
	}
	if r.BodyName != method+"_OUTPUT" {
		return nil, soapErr("%s answered with %q, expected %s_OUTPUT", method, r.BodyName, method)
	}
	var out methodOutput
	if err := r.Decode(&out); err != nil {
		return nil, err
	}
	if out.ReturnValue == nil {
		return r, nil
	}
	v, err := parseReturnValue(*out.ReturnValue)
	if err != nil {
		return nil, err
	}
	if v != 0 {
		return r, &ReturnValueError{
			Method: ClassOf(resourceURI) + "." + method, Value: v, Name: ReturnValueName(resourceURI, method, v),
		}
	}
	return r, nil
}

// Create makes a new instance from the given properties, written in order inside `<h:CLASS>` (WS-Transfer Create,
// e.g. AMT_TLSCredentialContext, protocol-rps-activation §2.10 step 6). AMT answers with ResourceCreated, the
// reference of the new instance, which is returned.
func (c *Client) Create(ctx context.Context, resourceURI string, props ...Param) (EPR, error) {
	r, err := c.Do(ctx, &Request{Action: ActionCreate, ResourceURI: resourceURI, Body: InstanceBody(resourceURI, props...)})
	if err != nil {
		return EPR{}, err
	}
	if r.BodyName != "ResourceCreated" {
		return EPR{}, soapErr("Create of %s answered with %q, expected ResourceCreated", ClassOf(resourceURI), r.BodyName)
	}
	var created EPR
	if err := r.Decode(&created); err != nil {
		return EPR{}, err
	}
	if created.ResourceURI != resourceURI {
		return EPR{}, soapErr("Create of %s answered with a reference to %q", ClassOf(resourceURI), created.ResourceURI)
	}
	return created, nil
}
