package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Posts is the table of every request of a run, indexed by its sequence number: when it
// was scheduled to leave (ns on the run's monotonic clock) and how it was answered. The
// receipt side reads it to turn a publication's client_id into a POST→receipt latency.
type Posts struct {
	tag      string
	external bool    // a receiver's table, filled from the poster's list at the end
	sendNs   []int64 // scheduled send time; 0 until scheduled
	status   []int32 // HTTP status; -1 transport error; 0 not answered (yet)
	chat     []int64
	next     atomic.Int64
}

func newPosts(capacity int, tag string) *Posts {
	if tag == "" {
		tag = fmt.Sprintf("lg%x", time.Now().UnixNano()&0xffffffffff)
	}
	return &Posts{
		tag:    tag,
		sendNs: make([]int64, capacity),
		status: make([]int32, capacity),
		chat:   make([]int64, capacity),
	}
}

func (p *Posts) clientID(seq int) string { return p.tag + "-" + strconv.Itoa(seq) }

// seqOf is the sequence number a client_id of this run stands for, or -1.
func (p *Posts) seqOf(clientID string) int {
	rest, ok := strings.CutPrefix(clientID, p.tag+"-")
	if !ok {
		return -1
	}
	seq, err := strconv.Atoi(rest)
	if err != nil || seq < 0 || (!p.external && seq >= len(p.sendNs)) {
		return -1
	}
	return seq
}

// AcceptedPost is what a poster hands to the receiver processes: which message, to
// which chat, sent when (clock ns).
type AcceptedPost struct {
	ClientID string `json:"client_id"`
	ChatID   int64  `json:"chat_id"`
	SentNs   int64  `json:"sent_ns"`
}

func (p *Posts) acceptedList() []AcceptedPost {
	var out []AcceptedPost
	for seq := 0; seq < int(p.next.Load()) && seq < len(p.sendNs); seq++ {
		if accepted(atomic.LoadInt32(&p.status[seq])) {
			out = append(out, AcceptedPost{p.clientID(seq), p.chat[seq], p.sendNs[seq]})
		}
	}
	return out
}

// fill makes a receiver's table from a poster's list of accepted POSTs.
func (p *Posts) fill(list []AcceptedPost) {
	top := -1
	seqs := make([]int, len(list))
	for i, a := range list {
		seqs[i] = p.seqOf(a.ClientID)
		top = max(top, seqs[i])
	}
	p.sendNs, p.status, p.chat = make([]int64, top+1), make([]int32, top+1), make([]int64, top+1)
	for i, a := range list {
		if seq := seqs[i]; seq >= 0 {
			p.sendNs[seq], p.status[seq], p.chat[seq] = a.SentNs, 201, a.ChatID
		}
	}
	p.next.Store(int64(top + 1))
}

func accepted(status int32) bool { return status >= 200 && status < 300 }

// collector gathers one phase's answers.
type collector struct {
	mu                sync.Mutex
	start             time.Duration
	byStatus          map[string][]float64
	byChat            map[int64][]float64
	all               []float64
	buckets           map[int]*bucket
	retryAfterMissing int
	badErrorBody      int
	lastAnswer        time.Duration
}

type bucket struct {
	sent     int
	statuses map[string]int
	lat      []float64
}

type Bucket struct {
	T        int            `json:"t"`
	Sent     int            `json:"sent"`
	Statuses map[string]int `json:"statuses"`
	P50      float64        `json:"p50_ms"`
	P99      float64        `json:"p99_ms"`
}

type PhaseResult struct {
	Name             string              `json:"name"`
	OfferedRate      float64             `json:"offered_rate"`
	DurationS        float64             `json:"duration_s"`
	Scheduled        int                 `json:"scheduled"`
	DroppedByLoadgen int                 `json:"dropped_by_loadgen"`
	Statuses         map[string]int      `json:"statuses"`
	AcceptedPerS     float64             `json:"accepted_per_s"`
	AnsweredPerS     float64             `json:"answered_per_s"`
	Latency          *Summary            `json:"latency_ms"`
	LatencyByStatus  map[string]*Summary `json:"latency_by_status_ms"`
	// Of the accepted POSTs, by chat id, when there are few chats (the big room against a 2-member chat).
	LatencyByChat     map[string]*Summary `json:"latency_by_chat_ms,omitempty"`
	RetryAfterMissing int                 `json:"retry_after_missing"`
	// 503s whose body is not the project's JSON error ({"message", "extra"}).
	BadErrorBody int      `json:"bad_error_body"`
	Timeline     []Bucket `json:"timeline"`
}

func (c *collector) record(scheduled, answered time.Duration, key string, chat int64, retryAfterMissing, badBody bool) {
	ms := float64(answered-scheduled) / 1e6
	sec := int((scheduled - c.start) / time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byStatus[key] = append(c.byStatus[key], ms)
	c.all = append(c.all, ms)
	if strings.HasPrefix(key, "2") {
		c.byChat[chat] = append(c.byChat[chat], ms) // accepted POSTs only
	}
	b := c.buckets[sec]
	if b == nil {
		b = &bucket{statuses: map[string]int{}}
		c.buckets[sec] = b
	}
	b.statuses[key]++
	b.lat = append(b.lat, ms)
	if retryAfterMissing {
		c.retryAfterMissing++
	}
	if badBody {
		c.badErrorBody++
	}
	if answered > c.lastAnswer {
		c.lastAnswer = answered
	}
}

func (c *collector) sent(scheduled time.Duration) {
	sec := int((scheduled - c.start) / time.Second)
	c.mu.Lock()
	b := c.buckets[sec]
	if b == nil {
		b = &bucket{statuses: map[string]int{}}
		c.buckets[sec] = b
	}
	b.sent++
	c.mu.Unlock()
}

// HTTPRunner sends the requests of an HTTPLoad.
type HTTPRunner struct {
	s     *Scenario
	h     *HTTPLoad
	posts *Posts
	// One client per source address, each poster always from the same one: nginx admits
	// per address, so a person's requests must come from that person's address. Through one
	// shared pool, the few connections that carried most requests (the most recently idle
	// are reused first) were each one address, over nginx's rate per address.
	// fasthttp's client writes and reads on the caller's goroutine: net/http's two
	// goroutines per connection, and the hand-offs between them, cost 1.6 to 2.6 times the
	// CPU per request, on the two cores the servers need (docs/performance.md, nineteenth pass).
	clients []*fasthttp.HostClient
	// At most Concurrency requests at a time, over all the clients.
	slots   chan struct{}
	timeout time.Duration
	clock   *Clock
	live    *liveCounters
}

type liveCounters struct {
	sent, ok, refused, failed, inflight atomic.Int64
}

func newHTTPRunner(s *Scenario, posts *Posts, clock *Clock) *HTTPRunner {
	h := s.HTTP
	base, err := url.Parse(s.BaseURL)
	if err != nil || base.Scheme != "http" {
		panic(fmt.Sprintf("base_url %q: plain http expected", s.BaseURL))
	}
	sources := [][]string{nil} // no addresses given: the kernel's
	if len(s.SourceAddrs) > 0 {
		sources = sources[:0]
		for _, addr := range s.SourceAddrs {
			sources = append(sources, []string{addr})
		}
	}
	timeout := time.Duration(h.TimeoutS * float64(time.Second))
	r := &HTTPRunner{s: s, h: h, posts: posts, clock: clock, live: &liveCounters{}, slots: make(chan struct{}, h.Concurrency), timeout: timeout}
	for _, source := range sources {
		dial := newDialer(source)
		r.clients = append(r.clients, &fasthttp.HostClient{
			Addr: base.Host,
			Dial: func(addr string) (net.Conn, error) {
				return dial.DialContext(context.Background(), "tcp", addr)
			},
			// Any poster may fall on any client: the slots above bound the whole.
			MaxConns:                 h.Concurrency,
			MaxConnWaitTimeout:       timeout,
			MaxIdleConnDuration:      90 * time.Second,
			NoDefaultUserAgentHeader: true,
			DisablePathNormalizing:   true,
			RetryIfErr:               retryClosedIdle,
		})
	}
	return r
}

// retryClosedIdle sends a request once more, on a new connection, when the server closed or
// reset the one it went on before answering: what a server does to a keep-alive connection
// idle past its timeout (uvicorn's is 5 s; a poster of scenario 2 or 7 posts every 5-10 s).
// net/http's reader goroutine saw such a close before the connection was reused; fasthttp
// finds out on the request. A server closing an idle connection read nothing of it, and
// should one have read it, a message POST carries its client_id: a second send cannot make
// a second message. Only once: a server that drops every connection is still counted.
func retryClosedIdle(_ *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	closed := errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	return false, closed && attempts == 1
}

// clientOf is the client of poster number `index`: the same address for each of its requests.
func (r *HTTPRunner) clientOf(index int) *fasthttp.HostClient { return r.clients[index%len(r.clients)] }

func (r *HTTPRunner) do(ctx context.Context, seq int, scheduled time.Duration, col *collector) {
	index := seq % len(r.h.Posters)
	poster := r.h.Posters[index]
	r.posts.chat[seq] = poster.ChatID
	atomic.StoreInt64(&r.posts.sendNs[seq], int64(scheduled))
	path := r.h.Path
	if strings.Contains(path, "%d") {
		path = fmt.Sprintf(path, poster.ChatID)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(r.s.BaseURL + path)
	req.Header.SetMethod(r.h.Method)
	req.Header.Set("Authorization", "Token "+poster.Token)
	if r.h.Method == http.MethodPost {
		raw, _ := json.Marshal(map[string]string{"text": r.h.Text, "client_id": r.posts.clientID(seq)})
		req.Header.SetContentType("application/json")
		req.SetBody(raw)
	}
	r.live.sent.Add(1)
	r.live.inflight.Add(1)
	defer r.live.inflight.Add(-1)
	col.sent(scheduled)
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	case <-ctx.Done():
	}
	err := ctx.Err()
	if err == nil {
		// A redirect (to HTTPS, say) is an answer to count: fasthttp's Do does not follow it.
		err = r.clientOf(index).DoTimeout(req, resp, r.timeout)
	}
	var key string
	missingRetryAfter, badBody := false, false
	if err != nil {
		atomic.StoreInt32(&r.posts.status[seq], -1)
		key = "error:" + errorKind(err)
		if r.live.failed.Add(1) <= 3 {
			fmt.Fprintf(os.Stderr, "loadgen: request %d failed: %v\n", seq, err)
		}
	} else {
		status := resp.StatusCode()
		atomic.StoreInt32(&r.posts.status[seq], int32(status))
		key = strconv.Itoa(status)
		switch {
		case status < 300:
			r.live.ok.Add(1)
		case status == http.StatusServiceUnavailable:
			r.live.refused.Add(1)
			missingRetryAfter = len(resp.Header.Peek("Retry-After")) == 0
			// The project's error body: {"message": ..., "extra": {...}}.
			var body struct {
				Message *string         `json:"message"`
				Extra   json.RawMessage `json:"extra"`
			}
			if json.Unmarshal(resp.Body(), &body) != nil || body.Message == nil || body.Extra == nil {
				badBody = true
			}
		default:
			if r.live.failed.Add(1) <= 3 {
				fmt.Fprintf(os.Stderr, "loadgen: request %d answered %d: %.200s\n", seq, status, resp.Body())
			}
		}
	}
	col.record(scheduled, r.clock.Now(), key, poster.ChatID, missingRetryAfter, badBody)
}

func errorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, fasthttp.ErrTimeout), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case errors.Is(err, fasthttp.ErrConnectionClosed), strings.Contains(err.Error(), "connection reset"), strings.Contains(err.Error(), "EOF"):
		return "reset"
	default:
		return "other"
	}
}

// warmUp is the phase sent before the measured window, the first phase's load for WarmUpS
// seconds, and whether there is one.
func (h *HTTPLoad) warmUp() (Phase, bool) {
	if h.WarmUpS <= 0 || len(h.Phases) == 0 {
		return Phase{}, false
	}
	return Phase{Name: "warm-up", Rate: h.Phases[0].Rate, DurationS: h.WarmUpS}, true
}

// WarmUp sends the warm-up phase, if there is one, and forgets its answers.
func (r *HTTPRunner) WarmUp(ctx context.Context) {
	if phase, ok := r.h.warmUp(); ok {
		r.runPhase(ctx, phase)
	}
}

// Run sends every phase in turn and returns one result per phase.
func (r *HTTPRunner) Run(ctx context.Context) []PhaseResult {
	var results []PhaseResult
	for _, phase := range r.h.Phases {
		results = append(results, r.runPhase(ctx, phase))
	}
	return results
}

func (r *HTTPRunner) runPhase(ctx context.Context, phase Phase) PhaseResult {
	col := &collector{byStatus: map[string][]float64{}, byChat: map[int64][]float64{}, buckets: map[int]*bucket{}, start: r.clock.Now()}
	duration := time.Duration(phase.DurationS * float64(time.Second))
	deadline := col.start + duration
	var wg sync.WaitGroup
	scheduled, dropped := 0, 0
	fmt.Fprintf(os.Stderr, "loadgen: phase %q: %s for %.0f s\n", phase.Name, rateText(phase.Rate, r.h.Concurrency), phase.DurationS)
	if phase.Rate > 0 {
		interval := float64(time.Second) / phase.Rate
		total := int(phase.Rate * phase.DurationS)
		for i := 0; i < total; i++ {
			at := col.start + time.Duration(float64(i)*interval)
			if wait := at - r.clock.Now(); wait > 0 {
				time.Sleep(wait)
			}
			if ctx.Err() != nil {
				break
			}
			if int(r.live.inflight.Load()) >= r.h.MaxInflight {
				dropped++
				continue
			}
			seq := int(r.posts.next.Add(1) - 1)
			if seq >= len(r.posts.sendNs) {
				dropped++
				continue
			}
			scheduled++
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.do(ctx, seq, at, col)
			}()
		}
	} else {
		var count atomic.Int64
		for w := 0; w < r.h.Concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r.clock.Now() < deadline && ctx.Err() == nil {
					seq := int(r.posts.next.Add(1) - 1)
					if seq >= len(r.posts.sendNs) {
						return
					}
					count.Add(1)
					r.do(ctx, seq, r.clock.Now(), col)
				}
			}()
		}
		wg.Wait()
		scheduled = int(count.Load())
	}
	wg.Wait()
	return col.result(phase, scheduled, dropped)
}

func rateText(rate float64, concurrency int) string {
	if rate > 0 {
		return fmt.Sprintf("open loop at %.0f/s", rate)
	}
	return fmt.Sprintf("closed loop, %d clients", concurrency)
}

func (c *collector) result(phase Phase, scheduled, dropped int) PhaseResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	elapsed := (c.lastAnswer - c.start).Seconds()
	statuses := map[string]int{}
	byStatus := map[string]*Summary{}
	ok, answered := 0, 0
	for key, values := range c.byStatus {
		statuses[key] = len(values)
		if !strings.HasPrefix(key, "error:") {
			answered += len(values)
		}
		if code, err := strconv.Atoi(key); err == nil && code < 300 {
			ok += len(values)
		}
		byStatus[key] = summarize(values)
	}
	res := PhaseResult{
		Name: phase.Name, OfferedRate: phase.Rate, DurationS: round2(elapsed), Scheduled: scheduled,
		DroppedByLoadgen: dropped, Statuses: statuses, LatencyByStatus: byStatus,
		Latency: summarize(c.all), RetryAfterMissing: c.retryAfterMissing,
		BadErrorBody: c.badErrorBody,
	}
	if elapsed > 0 {
		res.AcceptedPerS = round2(float64(ok) / elapsed)
		res.AnsweredPerS = round2(float64(answered) / elapsed)
	}
	if len(c.byChat) <= 8 {
		res.LatencyByChat = map[string]*Summary{}
		for chat, values := range c.byChat {
			res.LatencyByChat[strconv.FormatInt(chat, 10)] = summarize(values)
		}
	}
	last := 0
	for sec := range c.buckets {
		last = max(last, sec)
	}
	for sec := 0; sec <= last; sec++ {
		b := c.buckets[sec]
		if b == nil {
			continue
		}
		s := summarize(b.lat)
		out := Bucket{T: sec, Sent: b.sent, Statuses: b.statuses}
		if s != nil {
			out.P50, out.P99 = s.P50, s.P99
		}
		res.Timeline = append(res.Timeline, out)
	}
	return res
}
