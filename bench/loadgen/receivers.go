package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// Receiver is one subscriber's record: which messages of this run it got, how often and
// how late. Each is written by its own client's callback goroutine and read at the end.
type Receiver struct {
	mu        sync.Mutex
	chats     []int64
	got       map[int]uint16
	latency   []sample
	foreign   int // events that are not a message of this run (setup, other types)
	readyAt   time.Duration
	ready     chan struct{}
	readyOnce sync.Once
	subsLeft  atomic.Int32
	closer    func()
}

// sample is one first receipt: which POST, and when (clock ns).
type sample struct {
	seq int32
	at  int64
}

func newReceiver(chats []int64, subs int) *Receiver {
	r := &Receiver{chats: chats, got: map[int]uint16{}, ready: make(chan struct{})}
	r.subsLeft.Store(int32(subs))
	return r
}

func (r *Receiver) markReady(clock *Clock) {
	r.readyOnce.Do(func() {
		r.readyAt = clock.Now()
		close(r.ready)
	})
}

func (r *Receiver) isReady() bool {
	select {
	case <-r.ready:
		return true
	default:
		return false
	}
}

// envelope is the product's event (and the Channels peer's frame): {type, chat_id, id, data, ts}.
type envelope struct {
	Type   string `json:"type"`
	ChatID int64  `json:"chat_id"`
	Data   struct {
		ClientID string `json:"client_id"`
	} `json:"data"`
}

func (r *Receiver) handle(raw []byte, posts *Posts, clock *Clock, counters *recvCounters) {
	now := clock.Now()
	seq := -1
	if clientID, ok := messageClientID(raw); ok {
		seq = posts.seqOf(clientID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq < 0 {
		r.foreign++
		return
	}
	counters.received.Add(1)
	r.got[seq]++
	if r.got[seq] == 1 {
		r.latency = append(r.latency, sample{seq: int32(seq), at: int64(now)})
	}
}

// The markers in both layouts a receipt arrives in: compact JSON, and PostgreSQL's jsonb
// text, with a space after each colon (the product's events reach Centrifugo from its
// outbox table as jsonb).
var (
	createdMarkers  = [][]byte{[]byte(`"type":"message.created"`), []byte(`"type": "message.created"`)}
	clientIDMarkers = [][]byte{[]byte(`"client_id":"`), []byte(`"client_id": "`)}
)

// messageClientID is a message.created event's data.client_id: found by scanClientID, or
// (an envelope laid out otherwise) by decoding the whole envelope.
func messageClientID(raw []byte) (string, bool) {
	if clientID, ok := scanClientID(raw); ok {
		return clientID, true
	}
	var ev envelope
	if json.Unmarshal(raw, &ev) == nil && ev.Type == "message.created" && ev.Data.ClientID != "" {
		return ev.Data.ClientID, true
	}
	return "", false
}

// scanClientID finds a message.created event's client_id without decoding the envelope:
// tens of thousands of receipts a second share the generator's CPU with the servers.
func scanClientID(raw []byte) (string, bool) {
	created := false
	for _, marker := range createdMarkers {
		created = created || bytes.Contains(raw, marker)
	}
	if !created {
		return "", false
	}
	for _, marker := range clientIDMarkers {
		if i := bytes.Index(raw, marker); i >= 0 {
			rest := raw[i+len(marker):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				return string(rest[:j]), true
			}
		}
	}
	return "", false
}

type recvCounters struct {
	connected, failed, disconnects, subErrors, received atomic.Int64
}

// Clock reads the wall clock, in ns since the Unix epoch, so that a POST sent by one
// load generator process and its receipt in another (scenarios with many subscribers
// keep the two apart: a process busy with 20,000 receipts a second would delay its own
// POSTs) are on one time line. Every process of a run is on this one machine.
type Clock struct{ zero time.Time }

func (c *Clock) Now() time.Duration { return time.Duration(time.Now().UnixNano()) }

// dialer hands out the source addresses in turn.
type dialer struct {
	addrs []net.Addr
	next  atomic.Uint64
}

func newDialer(sources []string) *dialer {
	d := &dialer{}
	for _, s := range sources {
		d.addrs = append(d.addrs, &net.TCPAddr{IP: net.ParseIP(s)})
	}
	return d
}

// bindNoPort lets the kernel pick the source port at connect time, per destination,
// instead of reserving one at bind time for every destination alike: with tens of
// thousands of sockets, bound ports would run out of the ephemeral range that nginx's
// own upstream connections to Centrifugo also draw from.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var sockErr error
	err := c.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return sockErr
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second, Control: bindNoPort}
	if len(d.addrs) > 0 {
		nd.LocalAddr = d.addrs[d.next.Add(1)%uint64(len(d.addrs))]
	}
	return nd.DialContext(ctx, network, addr)
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// connectAll opens every subscriber's connection, at most ConnectConcurrency handshakes
// at a time, and returns once each is ready (connected and subscribed) or has timed out.
func connectAll(ctx context.Context, s *Scenario, receivers []*Receiver, open func(i int), counters *recvCounters, clock *Clock) time.Duration {
	started, startedAt := time.Now(), clock.Now()
	sem := make(chan struct{}, s.ConnectConcurrency)
	var wg sync.WaitGroup
	timeout := time.Duration(s.ConnectTimeoutS * float64(time.Second))
	deadline := time.Now().Add(timeout)
	done := make(chan struct{})
	go progress(done, func() string {
		return fmt.Sprintf("connected %d/%d (failed %d)", counters.connected.Load(), len(receivers), counters.failed.Load())
	})
	for i := range receivers {
		if ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		// The server is full: more attempts would only wait out their timeouts.
		if failed := counters.failed.Load(); failed >= maxConnectFailures {
			fmt.Fprintf(os.Stderr, "loadgen: %d connections failed: not opening the other %d\n", failed, len(receivers)-i)
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			open(i)
			// Each connection has its own timeout: one that never comes up must not hold
			// its slot (and the connect rate) until the global deadline.
			wait := min(time.Until(deadline), perConnectTimeout)
			select {
			case <-receivers[i].ready:
				counters.connected.Add(1)
			case <-time.After(wait):
				counters.failed.Add(1)
				if closer := receivers[i].closer; closer != nil {
					closer() // stop its reconnect attempts
				}
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
	close(done)
	// Until the last connection that did come up, so that failures waiting out their
	// timeout do not lower the connect rate.
	var last time.Duration
	for _, r := range receivers {
		if r.isReady() {
			last = max(last, r.readyAt)
		}
	}
	if last > 0 && last > startedAt {
		return last - startedAt
	}
	return time.Since(started)
}

const (
	perConnectTimeout  = 20 * time.Second
	maxConnectFailures = 200
)

func progress(done <-chan struct{}, line func() string) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			fmt.Fprintf(os.Stderr, "loadgen: %s\n", line())
		}
	}
}

// openCentrifugo connects subscriber i with centrifuge-go (JSON protocol, as the browser).
func openCentrifugo(s *Scenario, sub Subscriber, r *Receiver, posts *Posts, clock *Clock, counters *recvCounters, d *dialer) {
	client := centrifuge.NewJsonClient(s.WSURL, centrifuge.Config{
		Token:              sub.Token,
		Name:               "bench-loadgen",
		Header:             http.Header{"Origin": []string{s.Origin}},
		Proxy:              noProxy,
		NetDialContext:     d.DialContext,
		ReadTimeout:        15 * time.Second,
		WriteTimeout:       5 * time.Second,
		HandshakeTimeout:   15 * time.Second,
		MaxServerPingDelay: 30 * time.Second,
	})
	connectedOnce := false
	client.OnConnected(func(centrifuge.ConnectedEvent) {
		if !connectedOnce {
			connectedOnce = true
			if len(sub.Channels) == 0 {
				r.markReady(clock)
			}
		}
	})
	client.OnDisconnected(func(centrifuge.DisconnectedEvent) { counters.disconnects.Add(1) })
	client.OnConnecting(func(e centrifuge.ConnectingEvent) {
		if connectedOnce {
			counters.disconnects.Add(1)
		}
	})
	for _, ch := range sub.Channels {
		subscription, err := client.NewSubscription(ch.Channel, centrifuge.SubscriptionConfig{
			Token: ch.Token, Recoverable: true, Positioned: true,
		})
		if err != nil {
			counters.subErrors.Add(1)
			continue
		}
		subscribedOnce := false
		subscription.OnSubscribed(func(centrifuge.SubscribedEvent) {
			if !subscribedOnce {
				subscribedOnce = true
				if r.subsLeft.Add(-1) == 0 {
					r.markReady(clock)
				}
			}
		})
		subscription.OnError(func(centrifuge.SubscriptionErrorEvent) { counters.subErrors.Add(1) })
		subscription.OnPublication(func(e centrifuge.PublicationEvent) { r.handle(e.Data, posts, clock, counters) })
		_ = subscription.Subscribe()
	}
	r.closer = client.Close
	_ = client.Connect()
}

// openChannels connects subscriber i to the Django Channels peer: one WebSocket, the
// API token in the query; the peer joins it to every chat of the user and sends each
// event as one text frame holding the envelope.
func openChannels(s *Scenario, sub Subscriber, r *Receiver, posts *Posts, clock *Clock, counters *recvCounters, d *dialer) {
	ws := websocket.Dialer{NetDialContext: d.DialContext, Proxy: noProxy, HandshakeTimeout: 15 * time.Second}
	conn, _, err := ws.Dial(s.WSURL+"?token="+url.QueryEscape(sub.Token), http.Header{"Origin": []string{s.Origin}})
	if err != nil {
		return // counted as failed by connectAll's timeout
	}
	r.closer = func() { _ = conn.Close() }
	r.markReady(clock)
	go func() {
		for {
			_, raw, err := conn.ReadMessage()
			if err != nil {
				counters.disconnects.Add(1)
				return
			}
			r.handle(raw, posts, clock, counters)
		}
	}()
}

// ReceiptResult is the delivery side of a run.
type ReceiptResult struct {
	Subscribers int     `json:"subscribers"`
	Ready       int     `json:"ready"`
	ConnectS    float64 `json:"connect_s"`
	ConnectPerS float64 `json:"connect_per_s"`
	Disconnects int64   `json:"disconnects"`
	SubErrors   int64   `json:"subscribe_errors"`
	// Deliveries a ready subscriber of the chat should have had, of accepted POSTs.
	Expected   int `json:"expected"`
	Received   int `json:"received"`
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	// Receipts of POSTs whose answer was not 2xx (a timeout that did commit, say).
	ReceivedNotAccepted int `json:"received_not_accepted"`
	// Subscribers that missed at least one message.
	ClientsWithLoss int      `json:"clients_with_loss"`
	Foreign         int      `json:"foreign_events"`
	Latency         *Summary `json:"latency_ms"`
	// The p99 of each subscriber's own receipts, summarised over subscribers.
	PerClientP99 *Summary `json:"per_client_p99_ms"`
}

func receiptResult(receivers []*Receiver, posts *Posts, counters *recvCounters, connect time.Duration) *ReceiptResult {
	res := &ReceiptResult{
		Subscribers: len(receivers), ConnectS: round2(connect.Seconds()),
		Disconnects: counters.disconnects.Load(), SubErrors: counters.subErrors.Load(),
	}
	byChat := map[int64][]int{}
	total := int(posts.next.Load())
	for seq := 0; seq < total && seq < len(posts.sendNs); seq++ {
		if accepted(atomic.LoadInt32(&posts.status[seq])) {
			byChat[posts.chat[seq]] = append(byChat[posts.chat[seq]], seq)
		}
	}
	var all, perClient []float64
	for _, r := range receivers {
		r.mu.Lock()
		if r.isReady() {
			res.Ready++
			lost := 0
			for _, chat := range r.chats {
				for _, seq := range byChat[chat] {
					if time.Duration(posts.sendNs[seq]) < r.readyAt {
						continue
					}
					res.Expected++
					if r.got[seq] == 0 {
						lost++
					}
				}
			}
			res.Lost += lost
			if lost > 0 {
				res.ClientsWithLoss++
			}
		}
		for seq, n := range r.got {
			res.Received++
			if n > 1 {
				res.Duplicated += int(n - 1)
			}
			if seq >= len(posts.status) || !accepted(atomic.LoadInt32(&posts.status[seq])) {
				res.ReceivedNotAccepted++
			}
		}
		res.Foreign += r.foreign
		// POST → receipt of accepted messages only: a POST that timed out at the client
		// but committed later is counted in received_not_accepted, not here.
		var own []float64
		for _, s := range r.latency {
			if int(s.seq) < len(posts.status) && accepted(atomic.LoadInt32(&posts.status[s.seq])) {
				own = append(own, float64(s.at-atomic.LoadInt64(&posts.sendNs[s.seq]))/1e6)
			}
		}
		all = append(all, own...)
		if s := summarize(own); s != nil {
			perClient = append(perClient, s.P99)
		}
		r.mu.Unlock()
	}
	if connect > 0 {
		res.ConnectPerS = round2(float64(res.Ready) / connect.Seconds())
	}
	res.Latency = summarize(all)
	res.PerClientP99 = summarize(perClient)
	return res
}

// openSocketIO connects subscriber i to the python-socketio peer: Engine.IO 4 over one
// WebSocket. The server opens with `0{...}`; the client connects to the default namespace
// with its API token as the auth payload, `40{"token":...}`, and is answered `40{"sid":...}`
// once it is in the room of each of its chats (`44...`: refused). The server pings (`2`)
// and the client pongs (`3`); each message comes as `42["message",<envelope>]`.
func openSocketIO(s *Scenario, sub Subscriber, r *Receiver, posts *Posts, clock *Clock, counters *recvCounters, d *dialer) {
	ws := websocket.Dialer{NetDialContext: d.DialContext, Proxy: noProxy, HandshakeTimeout: 15 * time.Second}
	conn, _, err := ws.Dial(s.WSURL+"?EIO=4&transport=websocket", http.Header{"Origin": []string{s.Origin}})
	if err != nil {
		return // counted as failed by connectAll's timeout
	}
	r.closer = func() { _ = conn.Close() }
	auth, _ := json.Marshal(map[string]string{"token": sub.Token})
	_ = conn.SetReadDeadline(time.Now().Add(perConnectTimeout))
	if _, open, err := conn.ReadMessage(); err != nil || len(open) == 0 || open[0] != '0' {
		_ = conn.Close()
		return
	}
	if err := conn.WriteMessage(websocket.TextMessage, append([]byte("40"), auth...)); err != nil {
		_ = conn.Close()
		return
	}
	go func() {
		connected := false
		for {
			_, raw, err := conn.ReadMessage()
			if err != nil {
				if connected {
					counters.disconnects.Add(1)
				}
				return
			}
			switch {
			case bytes.HasPrefix(raw, []byte("42")):
				r.handle(socketIOEventData(raw[2:]), posts, clock, counters)
			case len(raw) == 1 && raw[0] == '2':
				_ = conn.WriteMessage(websocket.TextMessage, []byte("3"))
			case bytes.HasPrefix(raw, []byte("40")) && !connected:
				connected = true
				_ = conn.SetReadDeadline(time.Time{})
				r.markReady(clock)
			case bytes.HasPrefix(raw, []byte("44")):
				_ = conn.Close() // refused: never ready, counted as failed
				return
			}
		}
	}()
}

// socketIOEventData returns an event's argument, `<envelope>` of `["message",<envelope>]`
// (the envelope as is when the array is laid out otherwise: handle finds the client_id).
func socketIOEventData(raw []byte) []byte {
	prefix := []byte(`["message",`)
	if bytes.HasPrefix(raw, prefix) && bytes.HasSuffix(raw, []byte("]")) {
		return raw[len(prefix) : len(raw)-1]
	}
	return raw
}
