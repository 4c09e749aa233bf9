// Package emulator behaves like a Windows 10/11 device (or a Windows Phone
// 8) against an MDM server: discovery, enrollment policy, enrollment with a
// CSR shaped exactly like a real Windows one, OMA-DM sessions that answer
// commands as a device does, renewal and unenrollment. Every pitfall it can
// observe (P1-P15) is checked and reported as a PASS or FAIL line; a load
// mode runs many devices at once and measures the server.
//
// It is a product feature (`caddy mdm emulate`): admins use it to see that
// their server answers the way Windows demands before they touch a device.
package emulator
