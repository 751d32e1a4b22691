package soap

import "fmt"

// Fault action URIs per family (WS-Addressing, WS-Management, WS-Enumeration).
const (
	actionWSManFault       = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	actionEnumerationFault = NSEnumeration + "/fault"
	// NSTransfer is the WS-Transfer namespace (Put faults).
	NSTransfer = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
)

// DetailInvalidResourceURI is the fault detail AMT adds when the class is unknown.
const DetailInvalidResourceURI = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI"

// Fault is a SOAP 1.2 fault as AMT sends it with HTTP 400 (protocol-cira-wsman §9.2).
type Fault struct {
	Code   string // "Sender" or "Receiver"
	SubNS  string
	Sub    string
	Reason string
	Detail string
	Action string
}

func (f *Fault) Error() string { return fmt.Sprintf("wsman fault %s: %s", f.Sub, f.Reason) }

// DestinationUnreachable is AMT's answer for an unknown class or a missing instance.
func DestinationUnreachable(detail string) *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSAddressing, Sub: "DestinationUnreachable",
		Reason: "No route can be determined to reach the destination role defined by the WSAddressing To.",
		Detail: detail, Action: ActionFault,
	}
}

// ActionNotSupported answers an action the class does not implement.
func ActionNotSupported(action string) *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSAddressing, Sub: "ActionNotSupported",
		Reason: fmt.Sprintf("The action %q cannot be processed at the receiver.", action),
		Action: ActionFault,
	}
}

// HeaderRequired answers a request that lacks To, MessageID, Action, ReplyTo or ResourceURI.
func HeaderRequired(name string) *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSAddressing, Sub: "MessageInformationHeaderRequired",
		Reason: "A required message information header, " + name + ", is not present.",
		Action: ActionFault,
	}
}

// InvalidHeader answers a header with a value AMT does not accept.
func InvalidHeader(name string) *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSAddressing, Sub: "InvalidMessageInformationHeader",
		Reason: "A message information header is not valid and the message cannot be processed: " + name,
		Action: ActionFault,
	}
}

// SchemaValidation answers a body that does not match the class schema.
func SchemaValidation(msg string) *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSWSMan, Sub: "SchemaValidationError",
		Reason: "The supplied SOAP violates the corresponding XML Schema definition: " + msg,
		Action: actionWSManFault,
	}
}

// InvalidSelectors answers selectors that name no key of the class.
func InvalidSelectors() *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSWSMan, Sub: "InvalidSelectors",
		Reason: "The Selectors for the resource are not valid.",
		Action: actionWSManFault,
	}
}

// AccessDenied answers an operation the authenticated account may not perform.
func AccessDenied() *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSWSMan, Sub: "AccessDenied",
		Reason: "The sender was not authorized to access the resource.",
		Action: actionWSManFault,
	}
}

// InvalidEnumerationContext answers a Pull with an unknown or expired context.
func InvalidEnumerationContext() *Fault {
	return &Fault{
		Code: "Receiver", SubNS: NSEnumeration, Sub: "InvalidEnumerationContext",
		Reason: "The supplied enumeration context is invalid.",
		Action: actionEnumerationFault,
	}
}

// AlreadyExists answers a Create of an instance that exists already.
func AlreadyExists() *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSTransfer, Sub: "AlreadyExists",
		Reason: "The sender attempted to create a resource which already exists.", Action: actionWSManFault,
	}
}

// InvalidRepresentation answers a Put body AMT rejects.
func InvalidRepresentation(msg string) *Fault {
	return &Fault{
		Code: "Sender", SubNS: NSTransfer, Sub: "InvalidRepresentation",
		Reason: "The XML content is not valid: " + msg, Action: actionWSManFault,
	}
}

// subPrefix is the fault envelope prefix bound to a subcode namespace.
func subPrefix(ns string) string {
	switch ns {
	case NSAddressing:
		return "b"
	case NSWSMan:
		return "c"
	case NSTransfer:
		return "h"
	default:
		return "g"
	}
}
