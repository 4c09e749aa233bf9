// Package soap reads and writes the SOAP 1.2 envelopes with WS-Addressing and
// WS-Security headers that the Windows enrollment client speaks (MS-MDE2,
// MS-XCEP, MS-WSTEP), and the MS-MDE2 faults it understands.
//
// Elements are matched by local name only: real devices and Microsoft's own
// examples disagree on namespace spellings (trailing slashes, prefixes), and a
// server that insists on one spelling fails silently on the others (pitfall P3).
// Responses, on the other hand, are written with exactly the namespaces the
// specifications give.
package soap
