package store

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSessionsPutPrunes(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ss := &Sessions{}
	ss.Put(&Session{SessionID: "1", LastSeen: now.Add(-time.Hour), Ended: true}, now, time.Minute)
	ss.Put(&Session{SessionID: "2", LastSeen: now.Add(-10 * time.Second)}, now, time.Minute)
	ss.Put(&Session{SessionID: "3", LastSeen: now.Add(-5 * time.Second)}, now, time.Minute)
	// 1 is ended and not the latest: gone; 2 and 3 are live.
	if len(ss.Sessions) != 2 || ss.Find("1") != nil || ss.Latest().SessionID != "3" {
		t.Fatalf("%+v", ss.Sessions)
	}
	// Idle past the limit: only the latest stays.
	ss.Put(&Session{SessionID: "4", LastSeen: now.Add(10 * time.Minute)}, now.Add(10*time.Minute), time.Minute)
	if len(ss.Sessions) != 1 || ss.Latest().SessionID != "4" {
		t.Fatalf("%+v", ss.Sessions)
	}
	for i := range 10 {
		ss.Put(&Session{SessionID: string(rune('a' + i)), LastSeen: now.Add(10 * time.Minute)}, now.Add(10*time.Minute), time.Hour)
	}
	if len(ss.Sessions) != MaxSessions {
		t.Fatalf("%d sessions kept", len(ss.Sessions))
	}
}

func TestSessionsReadsSingleSession(t *testing.T) {
	var ss Sessions
	if err := json.Unmarshal([]byte(`{"session_id":"7","last_seen":"2024-01-01T00:00:00Z","last_msg_id":"2"}`), &ss); err != nil {
		t.Fatal(err)
	}
	if len(ss.Sessions) != 1 || ss.Find("7") == nil {
		t.Fatalf("%+v", ss.Sessions)
	}
	if err := json.Unmarshal([]byte(`{"sessions":[null]}`), &ss); err == nil {
		t.Fatal("null session accepted")
	}
}
