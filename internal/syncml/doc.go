// Package syncml reads and writes OMA DM 1.2 SyncML messages (the XML
// encoding, application/vnd.syncml.dm+xml) as Windows MDM speaks them: the
// message model, parsing by local name, marshaling with the exact namespaces
// (SYNCML:SYNCML1.2, and syncml:metinf on Meta children), and the status and
// alert codes.
package syncml
