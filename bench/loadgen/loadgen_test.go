package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMessageClientIDFindsTheMessagesOwnKey(t *testing.T) {
	raw := []byte(`{"type":"message.created","chat_id":7,"id":12,"data":{"id":12,"text":"hi","client_id":"bx-3"},"ts":"t"}`)
	if got, ok := messageClientID(raw); !ok || got != "bx-3" {
		t.Fatalf("got %q %v", got, ok)
	}
	// Other event types are not receipts of a POST.
	if _, ok := messageClientID([]byte(`{"type":"member.added","chat_id":7,"data":{"client_id":"bx-3"}}`)); ok {
		t.Fatal("a member.added event counted as a message")
	}
	// PostgreSQL's jsonb text, as the product's events arrive, is found without decoding.
	spaced := []byte(`{"id": 12, "ts": "t", "data": {"id": 12, "client_id": "bx-4"}, "type": "message.created", "chat_id": 7}`)
	if got, ok := scanClientID(spaced); !ok || got != "bx-4" {
		t.Fatalf("jsonb text: got %q %v", got, ok)
	}
	// Any other layout falls back to decoding.
	if got, ok := messageClientID([]byte(`{"type" : "message.created", "data": {"client_id" :"bx-5"}}`)); !ok || got != "bx-5" {
		t.Fatalf("other layout: got %q %v", got, ok)
	}
}

func TestReceiptsMatchAcceptedPostsAcrossProcesses(t *testing.T) {
	clock := &Clock{zero: time.Now()}
	poster := newPosts(10, "bt")
	for seq, status := range []int32{201, 503, 201} {
		poster.next.Add(1)
		poster.sendNs[seq], poster.status[seq], poster.chat[seq] = int64(clock.Now()), status, 5
	}
	// The receiver process knows only the tag until the poster's list arrives.
	posts := newPosts(0, "bt")
	posts.external = true
	r := newReceiver([]int64{5}, 0)
	r.markReady(&Clock{})
	r.readyAt = 0
	counters := &recvCounters{}
	msg := func(id string) []byte {
		return []byte(`{"type":"message.created","chat_id":5,"data":{"client_id":"` + id + `"}}`)
	}
	r.handle(msg("bt-0"), posts, clock, counters)
	r.handle(msg("bt-0"), posts, clock, counters) // a duplicate
	r.handle(msg("other-1"), posts, clock, counters)
	posts.fill(poster.acceptedList())
	res := receiptResult([]*Receiver{r}, posts, counters, time.Second)
	if res.Expected != 2 || res.Lost != 1 || res.Duplicated != 1 || res.Foreign != 1 {
		t.Fatalf("expected 2, lost 1, duplicated 1, foreign 1; got %+v", res)
	}
	if res.Latency == nil || res.Latency.N != 1 || res.Latency.Max < 0 {
		t.Fatalf("one latency sample, not negative: %+v", res.Latency)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	s := summarize([]float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10})
	if s.P50 != 5 || s.P90 != 9 || s.P99 != 10 || s.Max != 10 {
		t.Fatalf("%+v", s)
	}
}

func TestSocketIOEventDataIsTheEnvelope(t *testing.T) {
	// python-socketio's packet for emit("message", envelope): 42 + [name, argument].
	packet := []byte(`42["message",{"type":"message.created","chat_id":7,"data":{"client_id":"bx-5"}}]`)
	data := socketIOEventData(packet[2:])
	if string(data) != `{"type":"message.created","chat_id":7,"data":{"client_id":"bx-5"}}` {
		t.Fatalf("got %s", data)
	}
	if got, ok := messageClientID(data); !ok || got != "bx-5" {
		t.Fatalf("got %q %v", got, ok)
	}
}

func TestEachPosterPostsFromItsOwnAddress(t *testing.T) {
	// nginx admits per address: a poster's requests must all come from one address, and
	// the load spread over the posters' addresses, not carried by a few shared connections.
	var mu sync.Mutex
	seen := map[string]map[string]bool{} // token -> remote addresses
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host, _, _ := net.SplitHostPort(req.RemoteAddr)
		token := req.Header.Get("Authorization")
		mu.Lock()
		if seen[token] == nil {
			seen[token] = map[string]bool{}
		}
		seen[token][host] = true
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer server.Close()
	s := &Scenario{
		BaseURL:     server.URL,
		SourceAddrs: []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"},
		HTTP: &HTTPLoad{
			Method: http.MethodPost, Path: "/api/chats/%d/messages/", Concurrency: 4, TimeoutS: 5, MaxInflight: 100,
			Posters: []Poster{{"a", 1}, {"b", 2}, {"c", 3}},
			Phases:  []Phase{{Name: "closed", DurationS: 0.3}},
		},
	}
	runner := newHTTPRunner(s, newPosts(100_000, "t"), &Clock{})
	result := runner.Run(context.Background())[0]
	if result.Statuses["201"] < 30 {
		t.Fatalf("too few answers: %+v", result.Statuses)
	}
	addresses := map[string]bool{}
	for token, hosts := range seen {
		if len(hosts) != 1 {
			t.Fatalf("poster %s posted from %d addresses: %v", token, len(hosts), hosts)
		}
		for host := range hosts {
			addresses[host] = true
		}
	}
	if len(seen) != 3 || len(addresses) != 3 {
		t.Fatalf("3 posters from 3 addresses expected: %v", seen)
	}
}

func TestAPostOnAConnectionTheServerClosedIsSentAgain(t *testing.T) {
	// A server that closes each keep-alive connection soon after its first answer, as uvicorn
	// does one idle past its timeout, without saying so in the answer.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	var connections atomic.Int32
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			go func() {
				defer conn.Close()
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
					return
				}
				_, _ = conn.Write([]byte("HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"))
				time.Sleep(20 * time.Millisecond)
			}()
		}
	}()
	s := &Scenario{
		BaseURL: "http://" + listener.Addr().String(),
		HTTP: &HTTPLoad{
			Method: http.MethodPost, Path: "/api/chats/%d/messages/", Concurrency: 1, TimeoutS: 5, MaxInflight: 10,
			Posters: []Poster{{"a", 1}},
			// Every 100 ms: each request after the first finds its pooled connection closed.
			Phases: []Phase{{Name: "paced", Rate: 10, DurationS: 0.35}},
		},
	}
	result := newHTTPRunner(s, newPosts(1000, "t"), &Clock{}).Run(context.Background())[0]
	if result.Statuses["201"] != 3 || len(result.Statuses) != 1 {
		t.Fatalf("3 answers of 201 expected, each after a closed connection sent again: %+v", result.Statuses)
	}
	if got := connections.Load(); got != 3 {
		t.Fatalf("a connection per request expected, got %d", got)
	}
}

func TestTheWarmUpOpensEveryPostersConnectionAndIsLeftOutOfTheResults(t *testing.T) {
	var requests, connections atomic.Int32
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			connections.Add(1)
		}
	}
	server.Start()
	defer server.Close()
	s := &Scenario{
		BaseURL:     server.URL,
		SourceAddrs: []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"},
		HTTP: &HTTPLoad{
			Method: http.MethodPost, Path: "/api/chats/%d/messages/", Concurrency: 1, TimeoutS: 5, MaxInflight: 100,
			Posters: []Poster{{"a", 1}, {"b", 2}, {"c", 3}},
			Phases:  []Phase{{Name: "closed", DurationS: 0.2}},
			WarmUpS: 0.2, MaxRequests: 100_000,
		},
	}
	runner := newHTTPRunner(s, newPosts(capacity(s.HTTP), "t"), &Clock{})
	runner.WarmUp(context.Background())
	warmed, opened := requests.Load(), connections.Load()
	if warmed < 3 || opened != 3 {
		t.Fatalf("the warm-up should have posted from each of the 3 addresses: %d requests, %d connections", warmed, opened)
	}
	result := runner.Run(context.Background())[0]
	measured := result.Statuses["201"]
	if measured == 0 || int32(measured) != requests.Load()-warmed {
		t.Fatalf("the results should count the measured phase's %d requests only: %+v", requests.Load()-warmed, result.Statuses)
	}
	if got := connections.Load(); got != opened {
		t.Fatalf("the measured phase opened %d connections more", got-opened)
	}
}
