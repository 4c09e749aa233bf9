package soap

import (
	"errors"
	"fmt"
)

// FaultCode is one of the MS-MDE2 enrollment error types: the SOAP subcode
// a device reads and the HRESULT it shows the user for it.
type FaultCode struct {
	// Subcode is the qualified s:Subcode/s:Value, e.g. "s:MessageFormat".
	Subcode string
	// Type is the DeviceEnrollmentServiceError/ErrorType, e.g. "MessageFormat".
	Type string
	// HResult is the error number Windows reports for this fault.
	HResult uint32
}

// The MS-MDE2 fault codes (section 2.2.10).
var (
	MessageFormat        = FaultCode{"s:MessageFormat", "MessageFormat", 0x80180001}
	Authentication       = FaultCode{"s:Authentication", "Authentication", 0x80180002}
	Authorization        = FaultCode{"s:Authorization", "Authorization", 0x80180003}
	CertificateRequest   = FaultCode{"s:CertificateRequest", "CertificateRequest", 0x80180004}
	EnrollmentServer     = FaultCode{"s:EnrollmentServer", "EnrollmentServer", 0x80180005}
	InternalServiceFault = FaultCode{"a:InternalServiceFault", "InternalServiceFault", 0x80180006}
	InvalidSecurity      = FaultCode{"a:InvalidSecurity", "InvalidSecurity", 0x80180007}
	// NotEligibleToRenew is an ErrorType of the fault's detail (MS-MDE2
	// 2.2.10 as corrected in its 2023 errata), not a subcode: the subcode
	// is one of the seven above, here Authorization (the server refuses
	// this device the certificate), as Microsoft's example pairs
	// s:Authorization with the ErrorType DeviceCapReached.
	NotEligibleToRenew = FaultCode{"s:Authorization", "NotEligibleToRenew", 0x80180016}
)

// Fault is an error that is answered to the device as a SOAP fault. Message
// is shown to the device (and its user), so it must hold no secret.
type Fault struct {
	Code    FaultCode
	Message string
	// Cause is the internal error, for logs only.
	Cause error
}

// NewFault returns a fault with a message for the device and an optional
// internal cause.
func NewFault(code FaultCode, cause error, format string, args ...any) *Fault {
	return &Fault{Code: code, Message: fmt.Sprintf(format, args...), Cause: cause}
}

func (f *Fault) Error() string {
	if f.Cause != nil {
		return fmt.Sprintf("%s (0x%08X): %s: %v", f.Code.Type, f.Code.HResult, f.Message, f.Cause)
	}
	return fmt.Sprintf("%s (0x%08X): %s", f.Code.Type, f.Code.HResult, f.Message)
}

func (f *Fault) Unwrap() error { return f.Cause }

// AsFault returns err as a *Fault, wrapping anything else as an
// InternalServiceFault whose detail is not shown to the device.
func AsFault(err error) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	return &Fault{Code: InternalServiceFault, Message: "The server could not process the request.", Cause: err}
}

// Envelope renders the fault as MS-MDE2's example does: the Action of the
// operation's own response (a device shows the matching MENROLL_E_* error
// for it, not a generic transport error), the ActivityId, s:Receiver with
// the error subcode, the reason text, and a DeviceEnrollmentServiceError
// detail naming the error type and the trace ID an admin finds in the logs.
// An empty action falls back to the WS-Addressing fault action.
func (f *Fault) Envelope(action, relatesTo, traceID string) []byte {
	if action == "" {
		action = ActionFault
	}
	r := newResponse(action, relatesTo, traceID)
	fault := r.Body.CreateElement("s:Fault")
	code := fault.CreateElement("s:Code")
	code.CreateElement("s:Value").SetText("s:Receiver")
	code.CreateElement("s:Subcode").CreateElement("s:Value").SetText(f.Code.Subcode)
	reason := fault.CreateElement("s:Reason").CreateElement("s:Text")
	reason.CreateAttr("xml:lang", "en-US")
	reason.SetText(fmt.Sprintf("%s (0x%08X)", f.Message, f.Code.HResult))
	detail := fault.CreateElement("s:Detail").CreateElement("DeviceEnrollmentServiceError")
	detail.CreateAttr("xmlns", NSEnrollment)
	detail.CreateElement("ErrorType").SetText(f.Code.Type)
	detail.CreateElement("Message").SetText(f.Message)
	detail.CreateElement("TraceId").SetText(traceID)
	return r.Bytes()
}
