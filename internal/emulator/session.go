package emulator

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// maxMessages bounds one session.
const maxMessages = 64

// SessionResult says what a session did.
type SessionResult struct {
	Messages int
	// Executed lists the server's commands the device carried out.
	Executed []string
	// Unenrolled is set when the server unenrolled the device.
	Unenrolled bool
	// Resumed is set when the session's connection resumed an earlier TLS
	// session instead of a full handshake.
	Resumed bool
}

// Session runs one OMA-DM session as Windows does: package 1 (Alerts 1201
// and 1224, Replace of ./DevInfo, and Alert 1226 when unenroll is set), then
// it answers the server's commands until the server ends the session.
func Session(ctx context.Context, o Options, dev *Device, r *Report, unenroll bool) (*SessionResult, error) {
	o.defaults()
	if !dev.Enrolled() {
		return nil, fmt.Errorf("device %s is not enrolled", dev.ID)
	}
	digest := o.ManagementAuth == "digest"
	var cache tls.ClientSessionCache
	if !o.NoResume {
		cache = dev.sessionCache()
	}
	var c = o.httpClientResuming(dev.tlsCertificate(), cache)
	if digest {
		c = o.httpClient(nil)
	}
	// Windows opens a connection for a session and closes it after.
	defer c.CloseIdleConnections()
	dev.Session++
	s := &session{o: &o, dev: dev, r: r, id: strings.ToUpper(strconv.FormatInt(int64(dev.Session), 16)), res: &SessionResult{}}
	target := dev.ManagementURL + "?mode=Maintenance&Platform=WoA"

	msgID := 1
	cmds := s.package1(unenroll)
	var cred *syncml.Cred
	if digest {
		cred = s.cred(dev.ServerNonce)
	}
	hdrStatus := &syncml.Command{}
	challenged := false
	for n := 0; n < maxMessages; n++ {
		out := s.message(msgID, cred, cmds)
		e, err := post(ctx, c, target, syncml.ContentType, syncml.Marshal(out))
		if err != nil {
			r.check("management POST", false, "%v", err)
			return s.res, err
		}
		s.res.Messages++
		if n == 0 {
			s.res.Resumed = e.resp.TLS != nil && e.resp.TLS.DidResume
		}
		r.check("management answer is SyncML with Content-Length", e.resp.StatusCode == 200 && e.framed() &&
			strings.HasPrefix(e.resp.Header.Get("Content-Type"), syncml.ContentType), "HTTP %d %q", e.resp.StatusCode, e.resp.Header.Get("Content-Type"))
		m, err := syncml.Parse(e.body)
		if !r.check("management answer parses", err == nil, "%s", errText(err)) {
			return s.res, err
		}
		hdrStatus = s.checkReply(out, m)
		code, _ := strconv.Atoi(hdrStatus.Data)
		if m.Header.RespURI != "" {
			// OMA DM 1.2: the next message of the session goes to RespURI.
			target = m.Header.RespURI
		}
		if digest && (code == 212 || code == 200) {
			r.check("digest session bound to a RespURI", m.Header.RespURI != "", "reply has no RespURI")
		}
		switch {
		case digest && (code == 401 || code == 407) && hdrStatus.Chal != nil && !challenged:
			// Answer the challenge with the nonce given, as Windows does.
			challenged = true
			r.check("P13 challenge carries a 16-byte NextNonce", nonce16(hdrStatus.Chal.NextNonce), "%q", hdrStatus.Chal.NextNonce)
			dev.ServerNonce = hdrStatus.Chal.NextNonce
			cred = s.cred(dev.ServerNonce)
			msgID++
			continue
		case code == 401 || code == 403 || code == 407:
			r.check("server accepts the device's credentials", false, "SyncHdr status %d", code)
			return s.res, fmt.Errorf("refused with %d", code)
		}
		if cred != nil {
			r.check("P15 digest credentials acknowledged with 212", code == 212, "SyncHdr status %d", code)
			if hdrStatus.Chal != nil && hdrStatus.Chal.NextNonce != "" {
				dev.ServerNonce = hdrStatus.Chal.NextNonce
			}
		} else if msgID == 1 || n == 0 {
			r.check("certificate session acknowledged with 200", code == 200, "SyncHdr status %d", code)
		}
		cred = nil
		statuses, done := s.execute(m)
		if s.res.Unenrolled {
			return s.res, nil
		}
		if done && len(statuses) == 0 && m.Final {
			if !s.o.ChallengeServer || s.challengeNonce != "" {
				return s.res, nil
			}
			// Nothing left to do, but the device still asks the server to
			// prove itself before it trusts the session.
		}
		cmds = statuses
		if !m.Final {
			cmds = append(cmds, &syncml.Command{Name: syncml.CmdAlert, Data: syncml.AlertNextMessage})
		}
		s.serverMsg = m.Header.MsgID
		msgID++
	}
	r.check("session ends", false, "more than %d messages", maxMessages)
	return s.res, fmt.Errorf("session did not end")
}

type session struct {
	o   *Options
	dev *Device
	r   *Report
	id  string
	res *SessionResult
	// serverMsg is the server message the next device message answers.
	serverMsg string
	// challengeNonce is the nonce the device challenged the server with.
	challengeNonce string
	// incoming assembles a chunked object from the server.
	incoming map[string]string
}

func (s *session) cred(nonceB64 string) *syncml.Cred {
	nonce, _ := base64.StdEncoding.DecodeString(nonceB64)
	return &syncml.Cred{Type: syncml.AuthMD5, Format: syncml.FormatB64, Data: digest(s.dev.ServerName, s.dev.ServerSecret, nonce)}
}

// package1 is what Windows sends first in a session.
func (s *session) package1(unenroll bool) []*syncml.Command {
	cmds := []*syncml.Command{
		{Name: syncml.CmdAlert, Data: syncml.AlertClientInitiated},
		{Name: syncml.CmdAlert, Data: syncml.AlertClientEvent, Items: []*syncml.Item{{Meta: &syncml.Meta{Type: "com.microsoft/MDM/LoginStatus"}, Data: "user", HasData: true}}},
	}
	if s.o.AADUserToken != "" {
		cmds = append(cmds, aadUserTokenAlert(s.o.AADUserToken))
	}
	if unenroll {
		cmds = append(cmds, &syncml.Command{Name: syncml.CmdAlert, Data: syncml.AlertGeneric,
			Items: []*syncml.Item{{Meta: &syncml.Meta{Type: omadm.UnenrollmentAlertType, Format: "int"}, Data: "1", HasData: true}}})
	}
	rep := &syncml.Command{Name: syncml.CmdReplace}
	for _, n := range []string{"DevId", "Man", "Mod", "DmV", "Lang"} {
		uri := "./DevInfo/" + n
		rep.Items = append(rep.Items, &syncml.Item{Source: uri, Data: s.dev.Nodes[uri], HasData: true})
	}
	return append(cmds, rep)
}

// message numbers the device's commands (CmdID 1 is reserved for the
// Status of the server's SyncHdr in later messages, as Windows does).
func (s *session) message(msgID int, cred *syncml.Cred, cmds []*syncml.Command) *syncml.Message {
	m := &syncml.Message{Header: syncml.Header{
		VerDTD: syncml.VerDTD, VerProto: syncml.VerProto, SessionID: s.id, MsgID: strconv.Itoa(msgID),
		Target: s.dev.ManagementURL, Source: s.dev.ID, Cred: cred,
	}, Final: true}
	next := 2
	if s.serverMsg != "" {
		st := &syncml.Command{Name: syncml.CmdStatus, CmdID: "1", MsgRef: s.serverMsg, CmdRef: "0", Cmd: syncml.CmdSyncHdr, Data: "200"}
		if s.o.ChallengeServer && s.challengeNonce == "" {
			// Ask the server to prove itself (CLIENT credentials, P13).
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			s.challengeNonce = base64.StdEncoding.EncodeToString(b)
			st.Data = "401"
			st.Chal = &syncml.Meta{Type: syncml.AuthMD5, Format: syncml.FormatB64, NextNonce: s.challengeNonce}
		}
		m.Commands = append(m.Commands, st)
	}
	for _, c := range cmds {
		c.CmdID = strconv.Itoa(next)
		next++
		m.Commands = append(m.Commands, c)
	}
	return m
}

// checkReply verifies the numbering rules of a reply (P15) and returns its
// SyncHdr status.
func (s *session) checkReply(sent, m *syncml.Message) *syncml.Command {
	r := s.r
	h := m.Header
	r.check("reply SyncHdr: VerDTD 1.2, VerProto DM/1.2, SessionID echoed", h.VerDTD == "1.2" && h.VerProto == "DM/1.2" && h.SessionID == sent.Header.SessionID,
		"%s %s %s", h.VerDTD, h.VerProto, h.SessionID)
	r.check("P15 reply MsgID is the device's MsgID", h.MsgID == sent.Header.MsgID, "%s for %s", h.MsgID, sent.Header.MsgID)
	r.check("reply Target is the device, Source the server URL", h.Target == s.dev.ID && h.Source == s.dev.ManagementURL, "%s, %s", h.Target, h.Source)
	if len(m.Commands) == 0 {
		r.check("reply starts with the Status for the SyncHdr", false, "empty reply")
		return &syncml.Command{}
	}
	first := m.Commands[0]
	r.check("reply starts with the Status for the SyncHdr (CmdRef 0, MsgRef = device MsgID)",
		first.Name == syncml.CmdStatus && first.Cmd == syncml.CmdSyncHdr && first.CmdRef == "0" && first.MsgRef == sent.Header.MsgID,
		"%s %s %s:%s", first.Name, first.Cmd, first.MsgRef, first.CmdRef)
	r.check("SyncHdr Status carries no TargetRef/SourceRef (MS-MDM 2.2.6.1, as real devices were answered)",
		len(first.TargetRef) == 0 && len(first.SourceRef) == 0, "TargetRef %v SourceRef %v", first.TargetRef, first.SourceRef)
	seen := map[string]bool{}
	unique := true
	for _, c := range m.Commands {
		unique = unique && !seen[c.CmdID]
		seen[c.CmdID] = true
	}
	r.check("reply CmdIDs are unique", unique, "")
	code, _ := strconv.Atoi(first.Data)
	if code == 200 || code == 212 {
		var statuses []*syncml.Command
		for _, c := range m.Commands[1:] {
			if c.Name == syncml.CmdStatus {
				statuses = append(statuses, c)
			}
		}
		i := 0
		ok := true
		for _, c := range sent.Commands {
			if c.Name == syncml.CmdStatus || c.Name == syncml.CmdResults {
				continue
			}
			if i >= len(statuses) || statuses[i].CmdRef != c.CmdID || statuses[i].Cmd != c.Name || statuses[i].MsgRef != sent.Header.MsgID {
				ok = false
				break
			}
			i++
		}
		r.check("one Status per device command, in order, with its CmdRef and Cmd", ok, "")
	}
	if s.challengeNonce != "" && h.Cred != nil {
		nonce, _ := base64.StdEncoding.DecodeString(s.challengeNonce)
		want := digest(s.dev.ProviderID, s.dev.ClientSecret, nonce)
		r.check("P13 server Cred = digest of the CLIENT credentials over the device's nonce", h.Cred.Data == want, "")
		s.dev.ClientNonce = s.challengeNonce
	} else if s.challengeNonce != "" && sent.Commands[0].Data == "401" {
		r.check("P13 server answers the device's challenge with Cred", false, "no Cred")
	}
	return first
}
