package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// Scenario is what the Python runner (bench/measure.py's Loadgen) writes: who connects, what is posted
// and at which rate. Tokens are minted by the runner beforehand, so token issue is not on
// the measured path (the `http` mode measures it on its own).
type Scenario struct {
	// post | http | ws | channels | socketio | idle
	Mode  string `json:"mode"`
	Label string `json:"label"`
	// The site's origin, for the REST API (nginx): http://127.0.0.1:8800
	BaseURL string `json:"base_url"`
	// ws: Centrifugo through nginx (ws://127.0.0.1:8800/connection/websocket);
	// channels, socketio: the peer's endpoint without the query (ws://127.0.0.1:9000/ws/,
	// ws://127.0.0.1:9000/socket.io/).
	WSURL string `json:"ws_url"`
	// Sent as the WebSocket's Origin header: Centrifugo refuses other origins.
	Origin string `json:"origin"`
	// Local addresses to dial from, in turn (127.0.0.2, ...), so that tens of thousands
	// of connections to one loopback port do not run out of ephemeral ports.
	SourceAddrs []string `json:"source_addrs"`

	HTTP        *HTTPLoad    `json:"http"`
	Subscribers []Subscriber `json:"subscribers"`

	// Connections opened at once while connecting (a SYN flood helps nobody).
	ConnectConcurrency int     `json:"connect_concurrency"`
	ConnectTimeoutS    float64 `json:"connect_timeout_s"`
	// After the last POST, how long to wait for the receipts still on their way.
	DrainS float64 `json:"drain_s"`
	// idle: how long to hold the connections once all are up.
	HoldS float64 `json:"hold_s"`
	// Settle time between "everyone subscribed" and the first POST.
	SettleS float64 `json:"settle_s"`
	// The client_id prefix of a run's messages; a poster and its receiver processes share it.
	Tag string `json:"tag"`
	// ws/channels without an http section: another process posts. Once connected, this one
	// waits for a line on stdin naming the poster's list of accepted POSTs (JSON), then for
	// their receipts (drain_s at most).
	ExternalPosts bool `json:"external_posts"`
}

// HTTPLoad is the request side: open loop (each request leaves at its scheduled time,
// however slow the others are, so overload shows as latency and refusals) when a phase
// has a rate, closed loop (Concurrency workers, each sending its next request as soon as
// the previous answered) when the rate is 0.
type HTTPLoad struct {
	// POST (a message, the default) or GET (e.g. /api/realtime/token/).
	Method string `json:"method"`
	// A path with %d for the chat id (default /api/chats/%d/messages/), or a plain path.
	Path string `json:"path"`
	// Requests go to the posters in turn: each is an API token and the chat it posts to.
	Posters []Poster `json:"posters"`
	// Connections to the server (the Go client keeps at most this many, keep-alive).
	Concurrency int     `json:"concurrency"`
	Phases      []Phase `json:"phases"`
	// Before the measured window opens (the "measure_start" marker), the first phase's load
	// for this long, its answers left out of the results: every poster's connection opened
	// and the servers' per-client caches filled, so that a run of a few seconds measures the
	// servers at that load and not 1,000 clients connecting (mode post only).
	WarmUpS  float64 `json:"warm_up_s"`
	TimeoutS float64 `json:"timeout_s"`
	// Open loop: requests waiting for an answer at most; beyond, a scheduled request is
	// counted as dropped by the generator (its own limit, reported, never hidden).
	MaxInflight int    `json:"max_inflight"`
	Text        string `json:"text"`
	// Upper bound of requests in a closed-loop phase (the send-time table is preallocated).
	MaxRequests int `json:"max_requests"`
}

type Phase struct {
	Name      string  `json:"name"`
	Rate      float64 `json:"rate"`
	DurationS float64 `json:"duration_s"`
}

type Poster struct {
	Token  string `json:"token"`
	ChatID int64  `json:"chat_id"`
}

// Subscriber is one WebSocket client. ws: Token is a Centrifugo connection token and
// Channels its subscriptions; channels, socketio: Token is the API token (the peer joins
// the socket to every chat of its user). ChatIDs are the chats whose messages it must receive.
type Subscriber struct {
	Token    string       `json:"token"`
	Channels []SubChannel `json:"channels"`
	ChatIDs  []int64      `json:"chat_ids"`
}

type SubChannel struct {
	Channel string `json:"channel"`
	// A subscription token (chat:<id>), empty for the personal channel.
	Token string `json:"token"`
}

func loadScenario(path string) (*Scenario, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Scenario
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	orDefault(&s.ConnectConcurrency, 200)
	orDefault(&s.ConnectTimeoutS, 120)
	orDefault(&s.DrainS, 5)
	if h := s.HTTP; h != nil {
		orDefault(&h.Method, "POST")
		orDefault(&h.Path, "/api/chats/%d/messages/")
		orDefault(&h.Concurrency, 64)
		orDefault(&h.TimeoutS, 30)
		orDefault(&h.MaxInflight, 4096)
		orDefault(&h.Text, "bench")
		orDefault(&h.MaxRequests, 200_000)
		if len(h.Posters) == 0 {
			return nil, fmt.Errorf("%s: http.posters is empty", path)
		}
	}
	return &s, nil
}

// orDefault sets *v to value when the scenario left it out (zero, or below zero for a number).
func orDefault[T int | float64 | string](v *T, value T) {
	var zero T
	if *v <= zero {
		*v = value
	}
}
