package traceview

import (
	"strings"

	"github.com/beevik/etree"
)

// summarizeSOAP names an enrollment message's operation and lists the
// facts a person looks for in it.
func summarizeSOAP(root *etree.Element) (string, []string) {
	header, body := child(root, "Header"), child(root, "Body")
	action := text(child(header, "Action"))
	var op *etree.Element
	if body != nil && len(body.ChildElements()) > 0 {
		op = body.ChildElements()[0]
	}
	opName := "(empty body)"
	if op != nil {
		opName = localName(op.Tag)
	}
	title := opName
	if short := actionName(action); short != "" && short != opName {
		title += " (" + short + ")"
	}
	var facts []string
	add := func(label, value string) {
		if value != "" && len(facts) < maxSummaryLines {
			facts = append(facts, label+": "+short(value))
		}
	}
	if u := find(root, "username"); u != nil && header != nil {
		add("User", text(u))
	}
	if op == nil {
		return title, facts
	}
	switch strings.ToLower(opName) {
	case "fault":
		add("Fault", text(find(op, "subcode")))
		add("Reason", text(find(op, "reason")))
		add("TraceId", text(find(op, "traceid")))
	case "discover":
		req := child(op, "request")
		for _, n := range []string{"EmailAddress", "RequestVersion", "DeviceType", "ApplicationVersion", "OSEdition"} {
			add(n, text(child(req, n)))
		}
		var policies []string
		for _, p := range children(child(req, "AuthPolicies"), "AuthPolicy") {
			policies = append(policies, text(p))
		}
		add("AuthPolicies", strings.Join(policies, ", "))
	case "discoverresponse":
		res := child(op, "DiscoverResult")
		for _, n := range []string{"AuthPolicy", "EnrollmentVersion", "EnrollmentPolicyServiceUrl", "EnrollmentServiceUrl", "AuthenticationServiceUrl"} {
			add(n, text(child(res, n)))
		}
	case "getpolicies":
		add("Requester", text(find(op, "requesterName")))
	case "getpoliciesresponse":
		add("minimalKeyLength", text(find(op, "minimalkeylength")))
		add("validityPeriodSeconds", text(find(op, "validityperiodseconds")))
		add("renewalPeriodSeconds", text(find(op, "renewalperiodseconds")))
		add("hashAlgorithmOIDReference", text(find(op, "hashalgorithmoidreference")))
		if oid := find(op, "oid"); oid != nil {
			add("oID", text(child(oid, "value"))+" "+text(child(oid, "defaultName")))
		}
	case "requestsecuritytoken":
		add("RequestType", lastPart(text(child(op, "RequestType"))))
		if tok := child(op, "BinarySecurityToken"); tok != nil {
			add("Token", lastPart(attr(tok, "valuetype")))
		}
		if ac := child(op, "AdditionalContext"); ac != nil {
			for _, it := range children(ac, "ContextItem") {
				add(attr(it, "name"), text(child(it, "Value")))
			}
		}
	case "requestsecuritytokenresponsecollection":
		rstr := child(op, "RequestSecurityTokenResponse")
		add("DispositionMessage", text(child(rstr, "DispositionMessage")))
		add("RequestID", text(child(rstr, "RequestID")))
		if doc := find(op, "wap-provisioningdoc"); doc != nil {
			facts = append(facts, provisioningFacts(doc)...)
			facts = facts[:min(len(facts), maxSummaryLines)]
		}
	}
	return title, facts
}

// provisioningFacts lists what a provisioning document tells the device:
// where to manage it, who it is, when it renews.
func provisioningFacts(doc *etree.Element) []string {
	var facts []string
	var walk func(e *etree.Element, where string)
	walk = func(e *etree.Element, where string) {
		for _, c := range e.ChildElements() {
			switch localLower(c.Tag) {
			case "characteristic":
				walk(c, where+"/"+attr(c, "type"))
			case "parm":
				name, value := attr(c, "name"), attr(c, "value")
				switch strings.ToUpper(name) {
				case "ADDR", "PROVIDER-ID", "NAME", "SSLCLIENTCERTSEARCHCRITERIA", "ENTDMID", "SERVERURL", "RENEWPERIOD", "ROBOSUPPORT", "AAUTHSECRET":
					if len(facts) >= maxSummaryLines {
						return
					}
					facts = append(facts, "Document "+strings.TrimPrefix(where, "/")+"/"+name+" = "+short(value))
				}
			}
		}
	}
	walk(doc, "")
	return facts
}

func lastPart(s string) string {
	if i := strings.LastIndexAny(s, "/#"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// actionName shortens a WS-Addressing Action to its operation: the last
// path segment, with the one before when the last is a lower-case binding
// name (".../RST/wstep" is "RST/wstep").
func actionName(action string) string {
	parts := strings.Split(strings.TrimRight(action, "/"), "/")
	last := parts[len(parts)-1]
	if len(parts) > 1 && last == strings.ToLower(last) {
		return parts[len(parts)-2] + "/" + last
	}
	return last
}
