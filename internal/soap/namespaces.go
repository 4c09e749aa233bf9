package soap

// Namespaces written in responses. Each is spelled exactly as in MS-MDE2.
const (
	NSSoap       = "http://www.w3.org/2003/05/soap-envelope"
	NSAddressing = "http://www.w3.org/2005/08/addressing"
	NSSecurity   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSUtility    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	NSTrust      = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	NSEnrollment = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
	NSPolicy     = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"
	NSDiscovery  = "http://schemas.microsoft.com/windows/management/2012/01/enrollment"
	NSXSI        = "http://www.w3.org/2001/XMLSchema-instance"
	NSXSD        = "http://www.w3.org/2001/XMLSchema"
	NSAuthz      = "http://schemas.xmlsoap.org/ws/2006/12/authorization"
	// NSDiagnostics is the namespace of the ActivityId header, as in the
	// answers a real Windows 10 PC enrolled with.
	NSDiagnostics = "http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics"
)

// Actions of the three enrollment services, requests and responses.
const (
	ActionDiscover            = "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover"
	ActionDiscoverResponse    = "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/DiscoverResponse"
	ActionGetPolicies         = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies"
	ActionGetPoliciesResponse = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse"
	ActionRequestToken        = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep"
	ActionRequestTokenResp    = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep"
	ActionFault               = "http://www.w3.org/2005/08/addressing/soap/fault"
)

// ResponseAction is the Action of the answer to a request Action, "" for
// an unknown one. Faults carry it too, as Microsoft's fault example does.
func ResponseAction(requestAction string) string {
	switch requestAction {
	case ActionDiscover:
		return ActionDiscoverResponse
	case ActionGetPolicies:
		return ActionGetPoliciesResponse
	case ActionRequestToken:
		return ActionRequestTokenResp
	}
	return ""
}

// Token value types found in wsse:BinarySecurityToken.
const (
	ValueTypePKCS10          = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10"
	ValueTypePKCS7           = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS7"
	ValueTypePKCS7Secext     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#PKCS7"
	ValueTypeUserToken       = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken"
	ValueTypeJWT             = "urn:ietf:params:oauth:token-type:jwt"
	ValueTypeProvisionDoc    = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc"
	EncodingTypeBase64Binary = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary"
	TokenTypeDeviceEnroll    = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken"
)

// WS-Trust request types.
const (
	RequestTypeIssue    = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
	RequestTypeRenew    = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Renew"
	RequestTypeRecovery = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Recovery"
)
