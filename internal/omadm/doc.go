// Package omadm is the OMA-DM management session of a Windows MDM server:
// it authenticates each SyncML message (the device's TLS client certificate,
// bound to the DeviceID of SyncHdr/Source, or MD5 digest with per-device
// nonces), applies what the device sent (statuses, results, alerts,
// inventory), hands out queued commands once the device's package is final,
// and builds the reply.
//
// Message numbering (pitfall P15): the reply to a device message carries the
// device's MsgID. The captures settle it: device A's second message
// acknowledges the server's Replace commands 5 and 6 with MsgRef 1, so the
// server's answer to the device's message 1 was the server's message 1.
// Numbering the server's messages with an independent counter gives the same
// numbers while every device message gets exactly one answer, and diverges
// when a device resends a message whose answer it lost: echoing the MsgID
// keeps the MsgRef of the device's statuses pointing at the commands they
// acknowledge, so that is the rule. CmdIDs restart at 1 in every message,
// the Status for the SyncHdr being CmdID 1 (the captures' server message 1
// numbered its four statuses 1-4 and its commands 5 and 6).
package omadm
