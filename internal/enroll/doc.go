// Package enroll implements the three enrollment services of MS-MDE2:
// discovery, the MS-XCEP certificate enrollment policy (GetPolicies) and the
// MS-WSTEP security token service (RequestSecurityToken). Each takes a parsed
// SOAP request and returns the response bytes, or a *soap.Fault saying in
// MS-MDE2 terms why the request is refused. It imports no Caddy package:
// clock, randomness, CA, authenticator and store are all given to it.
package enroll
