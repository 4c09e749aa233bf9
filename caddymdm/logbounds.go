package caddymdm

// maxLoggedBody bounds a body written to a debug log line: a stranger's
// megabyte must not become a megabyte of log per request.
const maxLoggedBody = 16 << 10
