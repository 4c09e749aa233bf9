package integration

// Cluster tests: a redis-server the test starts on a free port, and two
// real Caddy nodes (A and B) from caddyfile-examples/cluster-redis.Caddyfile
// sharing it. Without redis-server they are skipped (MDM_REQUIRE_TOOLS=1
// makes that a failure, as in CI).

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
	"github.com/caddy-mdm/caddy-mdm/internal/testredis"
	"github.com/caddy-mdm/caddy-mdm/internal/testredis/seed"
)

type cluster struct {
	redis *testredis.Server
	a, b  *server
}

// startCluster starts Redis, then node A, then node B. The first node on
// an empty Redis creates Caddy's internal CA and the device CA; B starts
// once they are stored, and loads them.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin := requireTool(t, "redis-server")
	r, err := testredis.Start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	c := &cluster{redis: r}
	c.a = startNode(t, r)
	c.b = startNode(t, r)
	return c
}

func startNode(t *testing.T, r *testredis.Server) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), config: filepath.Join("..", "caddyfile-examples", "cluster-redis.Caddyfile"),
		env: []string{fmt.Sprintf("REDIS_PORT=%d", r.Port), "REDIS_HOST=127.0.0.1"}}
	// The internal CA's root is in Redis, not on disk: ask the admin API.
	s.trust = func() *x509.CertPool {
		resp, err := http.Get("http://" + s.adminAddr + "/pki/ca/local")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var ca struct {
			Root string `json:"root_certificate"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ca) != nil {
			return nil
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
			return nil
		}
		return pool
	}
	s.start()
	return s
}

// nodeID asks a node for its cluster node ID.
func (s *server) nodeID() string {
	s.t.Helper()
	var st struct {
		NodeID string `json:"node_id"`
	}
	r := s.admin(http.MethodGet, "/mdm/cluster", "")
	if r.StatusCode != http.StatusOK || json.Unmarshal(r.body, &st) != nil || st.NodeID == "" {
		s.t.Fatalf("/mdm/cluster: %d %s", r.StatusCode, r.body)
	}
	return st.NodeID
}

// post sends one SyncML message, safe from any goroutine.
func post(c *http.Client, s *server, body []byte) (int, http.Header, *syncml.Message, error) {
	req, err := http.NewRequest(http.MethodPost, s.url(managePath), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", syncmlMedia)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, resp.Header, nil, nil
	}
	m, err := syncml.Parse(b)
	return resp.StatusCode, resp.Header, m, err
}

// pkg1 is the captured package 1 of a session, with another SessionID and,
// if maxMsg > 0, a MaxMsgSize that makes the server spread its commands
// over several messages.
func pkg1(t *testing.T, sessionID string, maxMsg int) []byte {
	b := sessionMsg(t, "a-syncml-session1-msg1.xml", sessionID)
	if maxMsg > 0 {
		b = bytes.Replace(b, []byte("</SyncHdr>"), []byte(fmt.Sprintf(`<Meta><MaxMsgSize xmlns="syncml:metinf">%d</MaxMsgSize></Meta></SyncHdr>`, maxMsg)), 1)
	}
	return b
}

// ackAll answers a server message as Windows does: a Status for its
// SyncHdr and 200 for each of its commands.
func ackAll(s *server, deviceID, sessionID string, msgID int, reply *syncml.Message) []byte {
	var body strings.Builder
	fmt.Fprintf(&body, `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>%s</SessionID><MsgID>%d</MsgID>`+
		`<Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI></Source></SyncHdr><SyncBody>`,
		sessionID, msgID, s.url("/ManagementServer/MDM.svc"), deviceID)
	fmt.Fprintf(&body, `<Status><CmdID>1</CmdID><MsgRef>%s</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>`, reply.Header.MsgID)
	n := 2
	for _, c := range managementCommands(reply) {
		fmt.Fprintf(&body, `<Status><CmdID>%d</CmdID><MsgRef>%s</MsgRef><CmdRef>%s</CmdRef><Cmd>%s</Cmd><Data>200</Data></Status>`, n, reply.Header.MsgID, c.CmdID, c.Name)
		n++
	}
	body.WriteString(`<Final/></SyncBody></SyncML>`)
	return []byte(body.String())
}

// managementCommands returns the management commands of a server message.
func managementCommands(m *syncml.Message) []*syncml.Command {
	var out []*syncml.Command
	for _, c := range m.Commands {
		switch c.Name {
		case "Status", "Results", "Alert":
		default:
			out = append(out, c)
		}
	}
	return out
}

// runSession runs a whole session: package 1, then an answer to each
// server message until one brings nothing more. It returns the targets of
// the commands delivered, in order.
func runSession(t *testing.T, c *http.Client, s *server, sessionID string, maxMsg int) ([]string, error) {
	status, _, m, err := post(c, s, pkg1(t, sessionID, maxMsg))
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("package 1 on %s: %d %v", s.adminAddr, status, err)
	}
	var got []string
	for msgID := 2; ; msgID++ {
		if msgID > 100 {
			return got, fmt.Errorf("session %s does not end", sessionID)
		}
		cmds := managementCommands(m)
		for _, cmd := range cmds {
			for _, it := range cmd.Items {
				got = append(got, it.Target)
			}
		}
		if len(cmds) == 0 && m.Final {
			return got, nil
		}
		status, _, m, err = post(c, s, ackAll(s, deviceA, sessionID, msgID, m))
		if err != nil || status != http.StatusOK {
			return got, fmt.Errorf("message %d on %s: %d %v", msgID, s.adminAddr, status, err)
		}
	}
}

type apiCommand struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Status   int    `json:"status"`
	Attempts int    `json:"attempts"`
	Spec     struct {
		Items []struct {
			Target string `json:"target"`
		} `json:"items"`
	} `json:"spec"`
	Results []struct {
		Source, Data string
	} `json:"results"`
}

func (s *server) commandList(id string) []apiCommand {
	s.t.Helper()
	r := s.admin(http.MethodGet, "/mdm/devices/"+id+"/commands", "")
	var list struct {
		Commands []apiCommand `json:"commands"`
	}
	if r.StatusCode != http.StatusOK || json.Unmarshal(r.body, &list) != nil {
		s.t.Fatalf("commands: %d %s", r.StatusCode, r.body)
	}
	return list.Commands
}

func (s *server) enqueueReplace(id, target string) {
	s.t.Helper()
	r := s.admin(http.MethodPost, "/mdm/devices/"+id+"/commands", `{"verb":"Replace","items":[{"target":"`+target+`","format":"int","data":"1"}]}`)
	if r.StatusCode != http.StatusCreated {
		s.t.Fatalf("enqueue on %s: %d %s", s.adminAddr, r.StatusCode, r.body)
	}
}

// TestClusterEnrollOnASessionOnB: a device enrolled through node A manages
// through node B; a command queued on A's admin API is delivered by B, and
// its status and results are read back through A.
func TestClusterEnrollOnASessionOnB(t *testing.T) {
	c := startCluster(t)
	dev := enrollDevice(t, c.a, "a-enroll-request.xml", deviceA)
	onB := c.b.deviceClient(dev.cert)

	_, m := c.b.manage(onB, sessionMsg(t, "a-syncml-session1-msg1.xml", "1"))
	if st := m.Commands[0]; st.Cmd != "SyncHdr" || st.Data != "200" || !m.Final {
		t.Fatalf("session on B: %+v", m.Commands)
	}
	// B's inventory write is A's to read.
	r := c.a.admin(http.MethodGet, "/mdm/devices/"+deviceA, "")
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), "VMware") {
		t.Fatalf("device on A: %d %s", r.StatusCode, r.body)
	}

	r = c.a.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/commands", `{"verb":"Get","items":[{"target":"./DevDetail/SwV"}]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("enqueue on A: %d %s", r.StatusCode, r.body)
	}
	_, m = c.b.manage(onB, sessionMsg(t, "a-syncml-session1-msg1.xml", "2"))
	cmds := managementCommands(m)
	if len(cmds) != 1 || cmds[0].Name != "Get" || cmds[0].Items[0].Target != "./DevDetail/SwV" {
		t.Fatalf("B delivered %+v", cmds)
	}
	answer := fmt.Sprintf(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>2</SessionID><MsgID>2</MsgID>`+
		`<Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI></Source></SyncHdr><SyncBody>`+
		`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>`+
		`<Status><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>%s</CmdRef><Cmd>Get</Cmd><Data>200</Data></Status>`+
		`<Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>%s</CmdRef><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source><Data>10.0.19043.2364</Data></Item></Results>`+
		`<Final/></SyncBody></SyncML>`, c.b.url("/ManagementServer/MDM.svc"), deviceA, cmds[0].CmdID, cmds[0].CmdID)
	_, m = c.b.manage(onB, []byte(answer))
	if len(managementCommands(m)) != 0 || !m.Final {
		t.Fatalf("end of session: %+v", m.Commands)
	}
	list := c.a.commandList(deviceA)
	if len(list) != 1 || list[0].State != "acknowledged" || list[0].Status != 200 || len(list[0].Results) != 1 || list[0].Results[0].Data != "10.0.19043.2364" {
		t.Fatalf("command read through A: %+v", list)
	}
	// The trace B kept is A's to show.
	r = c.a.admin(http.MethodGet, "/mdm/devices/"+deviceA+"/trace", "")
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), "DevDetail/SwV") {
		t.Fatalf("trace through A: %d %.300s", r.StatusCode, r.body)
	}
	// A TLS session begun on A resumes on B: the nodes share the ticket
	// keys (a secret in the shared storage).
	sessions := tls.NewLRUClientSessionCache(2)
	c.a.manage(c.a.resumingClient(dev.cert, EnrollmentHost, sessions), sessionMsg(t, "a-syncml-session1-msg1.xml", "r1"))
	if r, m := c.b.manage(c.b.resumingClient(dev.cert, EnrollmentHost, sessions), sessionMsg(t, "a-syncml-session1-msg1.xml", "r2")); !r.TLS.DidResume || m.Commands[0].Data != "200" {
		t.Errorf("a session of node A on node B: resumed %v, %+v", r.TLS.DidResume, m.Commands[0])
	}
	// A retirement on A takes effect on B at once.
	if r := c.a.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/retire", `{"reason":"stolen"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("retire on A: %d %s", r.StatusCode, r.body)
	}
	_, m = c.b.manage(onB, sessionMsg(t, "a-syncml-session1-msg1.xml", "3"))
	if st := m.Commands[0]; st.Data != "403" {
		t.Fatalf("retired device on B: %s", st.Data)
	}
}

// stepSession is a session driven one message at a time.
type stepSession struct {
	s         *server
	c         *http.Client
	id        string
	msgID     int
	last      *syncml.Message
	delivered []string
	done      bool
}

// step sends the session's next message: package 1, then the answer to
// the server's latest message; done once the server has nothing more.
func (ss *stepSession) step(t *testing.T, maxMsg int) error {
	body := pkg1(t, ss.id, maxMsg)
	if ss.last != nil {
		body = ackAll(ss.s, deviceA, ss.id, ss.msgID, ss.last)
	}
	status, _, m, err := post(ss.c, ss.s, body)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("session %s message %d: %d %v", ss.id, ss.msgID, status, err)
	}
	ss.msgID++
	ss.last = m
	cmds := managementCommands(m)
	for _, cmd := range cmds {
		for _, it := range cmd.Items {
			ss.delivered = append(ss.delivered, it.Target)
		}
	}
	ss.done = len(cmds) == 0 && m.Final
	return nil
}

// TestClusterConcurrentSessions: two sessions of one device run at once,
// one on each node, over 20 queued commands spread (by a small MaxMsgSize)
// over many messages: every command is delivered once and acknowledged
// once. First in lockstep (each node in turn, so both sessions hold
// commands in flight at the same time), then freely in parallel.
func TestClusterConcurrentSessions(t *testing.T) {
	c := startCluster(t)
	dev := enrollDevice(t, c.a, "a-enroll-request.xml", deviceA)
	const n = 20
	enqueue := func(round string) {
		for i := range n {
			c.a.enqueueReplace(deviceA, fmt.Sprintf("./Device/Vendor/MSFT/Test/%s%02d", round, i))
		}
	}
	check := func(round string, delivered [][]string) {
		t.Helper()
		count := map[string]int{}
		for _, d := range delivered {
			for _, target := range d {
				count[target]++
			}
		}
		for i := range n {
			target := fmt.Sprintf("./Device/Vendor/MSFT/Test/%s%02d", round, i)
			if count[target] != 1 {
				t.Errorf("%s delivered %d times (A: %v, B: %v)", target, count[target], delivered[0], delivered[1])
			}
		}
		t.Logf("round %s: A delivered %d, B delivered %d", round, len(delivered[0]), len(delivered[1]))
	}

	enqueue("L")
	sessions := []*stepSession{
		{s: c.a, c: c.a.deviceClient(dev.cert), id: "30", msgID: 1},
		{s: c.b, c: c.b.deviceClient(dev.cert), id: "31", msgID: 1},
	}
	for round := 0; !(sessions[0].done && sessions[1].done); round++ {
		if round > 100 {
			t.Fatal("the sessions do not end")
		}
		for _, ss := range sessions {
			if !ss.done {
				if err := ss.step(t, 1500); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	check("L", [][]string{sessions[0].delivered, sessions[1].delivered})
	if len(sessions[0].delivered) == 0 || len(sessions[1].delivered) == 0 {
		t.Errorf("one session got nothing: the lockstep did not overlap (A %d, B %d)", len(sessions[0].delivered), len(sessions[1].delivered))
	}

	enqueue("P")
	var wg sync.WaitGroup
	delivered := make([][]string, 2)
	errs := make([]error, 2)
	for i, node := range []*server{c.a, c.b} {
		client := node.deviceClient(dev.cert)
		wg.Add(1)
		go func() {
			defer wg.Done()
			delivered[i], errs[i] = runSession(t, client, node, fmt.Sprintf("3%d", i+2), 1500)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	check("P", delivered)

	list := c.b.commandList(deviceA)
	if len(list) != 2*n {
		t.Fatalf("%d commands", len(list))
	}
	for _, cmd := range list {
		if cmd.State != "acknowledged" || cmd.Status != 200 || cmd.Attempts != 1 {
			t.Errorf("%s: %s %d after %d attempts", cmd.Spec.Items[0].Target, cmd.State, cmd.Status, cmd.Attempts)
		}
	}
}

// TestClusterKillMidSession: node A dies (kill -9) after it sent commands
// and before the device answered; the device's next session, on B, gets
// every unacknowledged command again, and after its acknowledgement none
// is sent a third time.
func TestClusterKillMidSession(t *testing.T) {
	c := startCluster(t)
	dev := enrollDevice(t, c.a, "a-enroll-request.xml", deviceA)
	for i := range 3 {
		c.a.enqueueReplace(deviceA, fmt.Sprintf("./Device/Vendor/MSFT/Test/K%d", i))
	}
	_, m := c.a.manage(c.a.deviceClient(dev.cert), pkg1(t, "41", 0))
	if n := len(managementCommands(m)); n != 3 {
		t.Fatalf("A sent %d commands", n)
	}
	nodeA := c.a.nodeID()
	if err := c.a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.a.cmd.Wait()
	waitNodeDead(t, c.redis, nodeA)

	onB := c.b.deviceClient(dev.cert)
	got, err := runSession(t, onB, c.b, "42", 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "./Device/Vendor/MSFT/Test/K0,./Device/Vendor/MSFT/Test/K1,./Device/Vendor/MSFT/Test/K2" {
		t.Fatalf("B delivered %v, want the three again, in order", got)
	}
	for _, cmd := range c.b.commandList(deviceA) {
		if cmd.State != "acknowledged" || cmd.Attempts != 2 {
			t.Errorf("%s: %s after %d attempts", cmd.ID, cmd.State, cmd.Attempts)
		}
	}
	if got, err := runSession(t, onB, c.b, "43", 0); err != nil || len(got) != 0 {
		t.Fatalf("after acknowledgement: %v %v", got, err)
	}
	// The record is whole: still enrolled, with its inventory.
	r := c.b.admin(http.MethodGet, "/mdm/devices/"+deviceA, "")
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"state":"enrolled"`) || !strings.Contains(string(r.body), "VMware") {
		t.Fatalf("device after the kill: %d %s", r.StatusCode, r.body)
	}
}

// waitNodeDead waits until a node's heartbeat in Redis is older than
// store.NodeTimeout: what the other nodes take as its death.
func waitNodeDead(t *testing.T, r *testredis.Server, node string) {
	t.Helper()
	rc := r.Client()
	defer rc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := rc.Get(context.Background(), "caddy/mdm/nodes/"+node+".json").Bytes()
		var env struct {
			Value []byte `json:"value"`
		}
		var hb struct {
			Seen time.Time `json:"seen"`
		}
		if err != nil || json.Unmarshal(b, &env) != nil || json.Unmarshal(env.Value, &hb) != nil {
			t.Fatalf("heartbeat of %s: %v %s", node, err, b)
		}
		if time.Since(hb.Seen) > store.NodeTimeout+500*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s still beating", node)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterRedisOutage: with Redis stopped, enrollment and sessions
// answer 503 with Retry-After and a log line saying why, and write
// nothing; once Redis is back, both work again without a restart.
func TestClusterRedisOutage(t *testing.T) {
	c := startCluster(t)
	dev := enrollDevice(t, c.a, "a-enroll-request.xml", deviceA)
	onB := c.b.deviceClient(dev.cert)
	c.a.enqueueReplace(deviceA, "./Device/Vendor/MSFT/Test/O1")

	c.redis.Stop()
	status, hdr, _, err := post(onB, c.b, pkg1(t, "51", 0))
	if err != nil || status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("session with Redis down: %d %v Retry-After %q", status, err, hdr.Get("Retry-After"))
	}
	if !c.b.logs.waitFor("storage unavailable") {
		t.Error("no log line says the storage is unavailable")
	}
	r := enrollRaw(t, c.a, deviceB)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("enrollment with Redis down: %d %q %.200s", r.StatusCode, r.Header.Get("Retry-After"), r.body)
	}
	if !c.a.logs.waitFor("enrollment refused: storage unavailable") {
		t.Error("no log line on A says why the enrollment was refused")
	}
	if r := c.a.admin(http.MethodGet, "/mdm/devices/"+deviceA+"/commands", ""); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("admin API with Redis down: %d %s", r.StatusCode, r.body)
	}

	if err := c.redis.Start(); err != nil {
		t.Fatal(err)
	}
	// The Redis client redials on its own (within a second or so of
	// failed dials): each node says so when its heartbeat goes through.
	for _, n := range []*server{c.a, c.b} {
		if !n.logs.waitFor("cluster heartbeat restored") {
			t.Fatalf("node %s did not reconnect to Redis", n.adminAddr)
		}
	}
	// Nothing was half-written: B's device does not exist, A's queue is whole.
	if r := c.a.admin(http.MethodGet, "/mdm/devices/"+deviceB, ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("device B after the refused enrollment: %d %s", r.StatusCode, r.body)
	}
	// A device retries after Retry-After; the first request may still meet a
	// connection the Redis client has not yet found dead.
	var got []string
	for attempt := 0; attempt < 5; attempt++ {
		if got, err = runSession(t, onB, c.b, fmt.Sprintf("5%d", 2+attempt), 0); err == nil {
			break
		}
	}
	if err != nil || len(got) != 1 || got[0] != "./Device/Vendor/MSFT/Test/O1" {
		t.Fatalf("session after Redis came back: %v %v", got, err)
	}
	for attempt := 0; ; attempt++ {
		r := enrollRaw(t, c.a, deviceB)
		if r.StatusCode == http.StatusOK {
			break
		}
		if r.StatusCode != http.StatusServiceUnavailable || attempt == 4 {
			t.Fatalf("enrollment after Redis came back: %d %.300s", r.StatusCode, r.body)
		}
	}
	if r := c.b.admin(http.MethodGet, "/mdm/devices/"+deviceB, ""); r.StatusCode != http.StatusOK {
		t.Fatalf("device B after its enrollment: %d %s", r.StatusCode, r.body)
	}
}

// enrollRaw posts an enrollment of id (a fresh key) and returns the answer.
func enrollRaw(t *testing.T, s *server, id string) response {
	t.Helper()
	key := testpki.NewKey(t, "rsa")
	req := asQuickstartUser(t, "a-enroll-request.xml")
	req = bytes.Replace(req, []byte(base64.StdEncoding.EncodeToString(capture.CSR(t, "a-enroll-request.xml"))), []byte(base64.StdEncoding.EncodeToString(testpki.NewCSR(t, key, "ignored"))), 1)
	if id == deviceB {
		req = bytes.Replace(req, []byte(deviceA), []byte(deviceB), -1)
		req = bytes.Replace(req, []byte("3B3ED6D0EA88CBFCF37D36F90F22FE61172348C0162FC3840D6703149870CE76"), []byte("B0000000000000000000000000000000000000000000000000000000000000B0"), 1)
	}
	return s.postSOAP("/EnrollmentServer/Enrollment.svc", req)
}

// TestClusterStaleLock: a device lock left in Redis by a node that died
// holding it (the key redislock writes, with its TTL) delays the device's
// next message until it expires, and no longer.
func TestClusterStaleLock(t *testing.T) {
	c := startCluster(t)
	dev := enrollDevice(t, c.a, "a-enroll-request.xml", deviceA)
	rc := c.redis.Client()
	defer rc.Close()
	key := "caddy/locks/mdm/devices/" + deviceA
	ok, err := rc.SetNX(context.Background(), key, "token-of-a-dead-node", 5*time.Second).Result()
	if err != nil || !ok {
		t.Fatalf("planting the stale lock: %v %v", ok, err)
	}
	status, _, m, err := post(c.b.deviceClient(dev.cert), c.b, pkg1(t, "61", 0))
	if err != nil || status != http.StatusOK || m.Commands[0].Data != "200" {
		t.Fatalf("session behind a stale lock: %d %v", status, err)
	}
	if v, _ := rc.Get(context.Background(), key).Result(); v == "token-of-a-dead-node" {
		t.Fatal("the stale lock is still there")
	}
}

// TestClusterConcurrentEnrollment: one device enrolling on both nodes at
// once ends with one live record, whose certificate is the only one that
// manages it.
func TestClusterConcurrentEnrollment(t *testing.T) {
	c := startCluster(t)
	type result struct {
		status int
		body   []byte
		key    any
	}
	results := make([]result, 2)
	reqs := make([][]byte, 2)
	keys := make([]any, 2)
	for i := range 2 {
		key := testpki.NewKey(t, "rsa")
		req := asQuickstartUser(t, "a-enroll-request.xml")
		reqs[i] = bytes.Replace(req, []byte(base64.StdEncoding.EncodeToString(capture.CSR(t, "a-enroll-request.xml"))), []byte(base64.StdEncoding.EncodeToString(testpki.NewCSR(t, key, "ignored"))), 1)
		keys[i] = key
	}
	var wg sync.WaitGroup
	for i, node := range []*server{c.a, c.b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, node.url("/EnrollmentServer/Enrollment.svc"), bytes.NewReader(reqs[i]))
			req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
			resp, err := node.client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results[i] = result{status: resp.StatusCode, body: b, key: keys[i]}
		}()
	}
	wg.Wait()
	var live []tls.Certificate
	for i, r := range results {
		if r.status != http.StatusOK {
			t.Logf("enrollment %d: %d", i, r.status)
			continue
		}
		_, cert := enrollmentResult(t, r.body)
		live = append(live, tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: r.key, Leaf: cert})
	}
	if len(live) == 0 {
		t.Fatal("neither enrollment succeeded")
	}
	// One record: listed once, enrolled.
	r := c.b.admin(http.MethodGet, "/mdm/devices", "")
	if strings.Count(string(r.body), deviceA) != 1 {
		t.Fatalf("devices: %s", r.body)
	}
	// Exactly one of the certificates manages the device, on either node.
	working := 0
	for i, cert := range live {
		for j, node := range []*server{c.a, c.b} {
			status, _, m, err := post(node.deviceClient(cert), node, pkg1(t, fmt.Sprintf("7%d%d", i, j), 0))
			if err == nil && status == http.StatusOK && m.Commands[0].Data == "200" && j == 0 {
				working++
			}
		}
	}
	if working != 1 {
		t.Fatalf("%d of %d issued certificates manage the device, want 1", working, len(live))
	}
}

// TestClusterListsTenThousandDevices: 10,000 devices seeded straight into
// Redis are listed in pages through node A, each exactly once, the state
// filter and the counts (from the index) agree.
func TestClusterListsTenThousandDevices(t *testing.T) {
	c := startCluster(t)
	const n = 10000
	devs := make([]*store.Device, n)
	for i := range n {
		st := store.StateEnrolled
		if i%10 == 0 {
			st = store.StateRetired
		}
		devs[i] = &store.Device{DeviceID: fmt.Sprintf("%08X%024X", uint32(i)*2654435761, i), State: st, EnrollmentType: store.EnrollmentFull,
			User: "demo@contoso.com", EnrolledAt: time.Now().UTC()}
	}
	rc := c.redis.Client()
	defer rc.Close()
	if err := seed.Devices(context.Background(), rc, "caddy", devs, 1000); err != nil {
		t.Fatal(err)
	}
	list := func(state string, limit int) []string {
		var ids []string
		after := ""
		for page := 0; page < 2*n/limit+5; page++ {
			r := c.a.admin(http.MethodGet, fmt.Sprintf("/mdm/devices?state=%s&limit=%d&after=%s", state, limit, after), "")
			var p struct {
				Devices []struct {
					DeviceID string `json:"device_id"`
				} `json:"devices"`
				Next string `json:"next"`
			}
			if r.StatusCode != http.StatusOK || json.Unmarshal(r.body, &p) != nil {
				t.Fatalf("page: %d %.200s", r.StatusCode, r.body)
			}
			for _, d := range p.Devices {
				ids = append(ids, d.DeviceID)
			}
			if p.Next == "" {
				return ids
			}
			after = p.Next
		}
		t.Fatal("paging does not end")
		return nil
	}
	check := func(ids []string, want int) {
		t.Helper()
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		if len(seen) != want || !sort.StringsAreSorted(ids) {
			t.Fatalf("listed %d devices (sorted %v), want %d", len(seen), sort.StringsAreSorted(ids), want)
		}
	}
	check(list("", 1000), n)
	check(list("retired", 333), n/10)
	var st struct {
		Devices map[string]int `json:"devices"`
		Total   int            `json:"total"`
	}
	r := c.b.admin(http.MethodGet, "/mdm/cluster", "")
	if json.Unmarshal(r.body, &st) != nil || st.Total != n || st.Devices["retired"] != n/10 || st.Devices["enrolled"] != n-n/10 {
		t.Fatalf("counts: %s", r.body)
	}
}

// postPath is post to another management path (a RespURI with a session
// token).
func postPath(c *http.Client, s *server, path string, body []byte) (int, *syncml.Message, error) {
	req, err := http.NewRequest(http.MethodPost, s.url(path), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", syncmlMedia)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, err
	}
	m, err := syncml.Parse(b)
	return resp.StatusCode, m, err
}

// TestClusterDigestAcrossNodes: one digest (one nonce) sent to both nodes
// at once is accepted by exactly one; the session it opens goes on at the
// other node with its token; the spent nonce opens nothing anywhere.
func TestClusterDigestAcrossNodes(t *testing.T) {
	c := startCluster(t)
	dev := enrollDevice(t, c.a, "a-enroll-request.xml", deviceA)
	c.a.enqueueReplace(deviceA, "./Device/Vendor/MSFT/Test/D1")
	srv := appAuth(dev.doc, "APPSRV")
	nonce, _ := base64.StdEncoding.DecodeString(srv.Value("AAUTHDATA"))
	cred := `<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>` +
		omadm.Digest(srv.Value("AAUTHNAME"), srv.Value("AAUTHSECRET"), nonce) + `</Data></Cred>`
	body := msg1Session(t, cred, "81")

	nodes := []*server{c.a, c.b}
	replies := make([]*syncml.Message, 2)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, replies[i], _ = postPath(n.client, n, managePath, body)
		}()
	}
	wg.Wait()
	winner := -1
	for i, m := range replies {
		if m == nil {
			t.Fatalf("node %d did not answer in SyncML", i)
		}
		switch m.Commands[0].Data {
		case "212":
			if winner >= 0 {
				t.Fatal("the same nonce was accepted on both nodes")
			}
			winner = i
		case "401":
		default:
			t.Fatalf("node %d: SyncHdr %s", i, m.Commands[0].Data)
		}
	}
	if winner < 0 {
		t.Fatal("neither node accepted the digest")
	}
	won := replies[winner]
	cmds := managementCommands(won)
	if len(cmds) != 1 {
		t.Fatalf("the accepted session sent %+v", cmds)
	}
	// The session goes on at the other node, with its token.
	other := nodes[1-winner]
	path := managePath + "&" + omadm.SessionTokenParam + "=" + url.QueryEscape(mustToken(t, won))
	status, m, err := postPath(other.client, other, path, ackAll(other, deviceA, "81", 2, won))
	if err != nil || status != http.StatusOK || m.Commands[0].Data != "200" {
		t.Fatalf("the session on the other node: %d %v", status, err)
	}
	if list := other.commandList(deviceA); len(list) != 1 || list[0].State != "acknowledged" {
		t.Fatalf("commands: %+v", list)
	}
	// The spent nonce opens nothing, on either node.
	for _, n := range nodes {
		_, m, err := postPath(n.client, n, managePath, msg1Session(t, cred, "82"))
		if err != nil || m == nil || m.Commands[0].Data != "401" {
			t.Fatalf("replayed digest on %s: %v %+v", n.adminAddr, err, m)
		}
	}
}
