// Command loadgen is the benchmark's load generator (bench/measure.py's Loadgen drives it): HTTP
// requests at a fixed offered rate or at saturation, and thousands of WebSocket clients
// that match every publication to the POST that caused it.
//
//	loadgen -scenario scenario.json -out result.json
//
// Progress goes to stderr; stdout carries one JSON line per milestone ({"event": "ready"},
// "measure_start", "measure_end", "held") so that the runner can sample the servers' CPU
// and memory exactly over the measured window. In idle mode the connections are held
// until stdin closes (or hold_s passes).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"
)

type Result struct {
	Mode     string         `json:"mode"`
	Label    string         `json:"label"`
	Started  string         `json:"started"`
	WallS    float64        `json:"wall_s"`
	Phases   []PhaseResult  `json:"phases,omitempty"`
	Receipts *ReceiptResult `json:"receipts,omitempty"`
	// Every accepted message: its client_id, chat and send time (for receiver processes).
	AcceptedPosts []AcceptedPost `json:"accepted_posts,omitempty"`
	Loadgen       LoadgenSelf    `json:"loadgen"`
}

// LoadgenSelf is the generator's own cost, so that its share of the machine is reported.
type LoadgenSelf struct {
	UserCPUS   float64 `json:"user_cpu_s"`
	SystemCPUS float64 `json:"system_cpu_s"`
	MaxRSSMB   float64 `json:"max_rss_mb"`
	NoFile     uint64  `json:"rlimit_nofile"`
	GoMaxProcs int     `json:"gomaxprocs"`
}

var stdoutMu sync.Mutex

// marker prints a milestone with the generator's own CPU seconds so far: the runner reads
// the servers' CPU from /proc at the same instant, and takes the generator's from here
// (its /proc entry may already be gone by the time the last line is read).
func marker(event string, fields map[string]any) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	line := map[string]any{"event": event, "cpu_s": time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()}
	for k, v := range fields {
		line[k] = v
	}
	raw, _ := json.Marshal(line)
	stdoutMu.Lock()
	fmt.Println(string(raw))
	stdoutMu.Unlock()
}

// raiseNoFile lifts the soft descriptor limit to the hard one: one socket per client.
func raiseNoFile() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur
}

func self(nofile uint64) LoadgenSelf {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return LoadgenSelf{
		UserCPUS:   round2(time.Duration(ru.Utime.Nano()).Seconds()),
		SystemCPUS: round2(time.Duration(ru.Stime.Nano()).Seconds()),
		MaxRSSMB:   round2(float64(ru.Maxrss) / 1024),
		NoFile:     nofile,
		GoMaxProcs: runtime.GOMAXPROCS(0),
	}
}

func main() {
	scenarioPath := flag.String("scenario", "", "scenario JSON (see scenario.go)")
	outPath := flag.String("out", "", "result JSON (default: stdout's last line)")
	flag.Parse()
	if *scenarioPath == "" {
		fmt.Fprintln(os.Stderr, "usage: loadgen -scenario scenario.json [-out result.json]")
		os.Exit(2)
	}
	s, err := loadScenario(*scenarioPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	nofile := raiseNoFile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	clock := &Clock{zero: time.Now()}
	res := &Result{Mode: s.Mode, Label: s.Label, Started: clock.zero.UTC().Format(time.RFC3339)}
	switch s.Mode {
	case "post", "http":
		runRequests(ctx, s, clock, res)
	case "ws", "channels", "socketio":
		collectLessOften()
		runReceipts(ctx, s, clock, res)
	case "idle":
		runIdle(ctx, s, clock, res)
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown mode %q\n", s.Mode)
		os.Exit(2)
	}
	res.WallS = round2(time.Since(clock.zero).Seconds())
	res.Loadgen = self(nofile)
	raw, _ := json.Marshal(res)
	if *outPath != "" {
		if err := os.WriteFile(*outPath, raw, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
	} else {
		fmt.Println(string(raw))
	}
	marker("done", nil)
}

func capacity(h *HTTPLoad) int {
	phases := h.Phases[:len(h.Phases):len(h.Phases)] // appending must not write into h.Phases
	if warmUp, ok := h.warmUp(); ok {
		phases = append(phases, warmUp)
	}
	n := 0
	for _, p := range phases {
		if p.Rate > 0 {
			n += int(p.Rate*p.DurationS) + 1
		} else {
			n += h.MaxRequests
		}
	}
	return n
}

func liveLine(r *HTTPRunner) string {
	return fmt.Sprintf("sent %d, 2xx %d, 503 %d, failed %d, in flight %d",
		r.live.sent.Load(), r.live.ok.Load(), r.live.refused.Load(), r.live.failed.Load(), r.live.inflight.Load())
}

func runRequests(ctx context.Context, s *Scenario, clock *Clock, res *Result) {
	if s.HTTP == nil {
		fmt.Fprintln(os.Stderr, "loadgen: mode post needs an http section")
		os.Exit(2)
	}
	posts := newPosts(capacity(s.HTTP), s.Tag)
	runner := newHTTPRunner(s, posts, clock)
	marker("ready", nil)
	runner.WarmUp(ctx)
	marker("measure_start", nil)
	done := make(chan struct{})
	go progress(done, func() string { return liveLine(runner) })
	res.Phases = runner.Run(ctx)
	close(done)
	marker("measure_end", nil)
	if s.HTTP.Method == "POST" {
		res.AcceptedPosts = posts.acceptedList()
	}
}

func openers(s *Scenario, receivers []*Receiver, posts *Posts, clock *Clock, counters *recvCounters) func(int) {
	d := newDialer(s.SourceAddrs)
	return func(i int) {
		switch s.Mode {
		case "channels":
			openChannels(s, s.Subscribers[i], receivers[i], posts, clock, counters, d)
		case "socketio":
			openSocketIO(s, s.Subscribers[i], receivers[i], posts, clock, counters, d)
		default:
			openCentrifugo(s, s.Subscribers[i], receivers[i], posts, clock, counters, d)
		}
	}
}

func newReceivers(s *Scenario) []*Receiver {
	receivers := make([]*Receiver, len(s.Subscribers))
	for i, sub := range s.Subscribers {
		receivers[i] = newReceiver(sub.ChatIDs, len(sub.Channels))
	}
	return receivers
}

func closeAll(receivers []*Receiver) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 500)
	for _, r := range receivers {
		if r.closer == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.closer()
		}()
	}
	wg.Wait()
}

// runReceipts: connect every subscriber, post (open or closed loop), wait for the
// receipts, and match each to its POST.
func runReceipts(ctx context.Context, s *Scenario, clock *Clock, res *Result) {
	capacityN := 1
	if s.HTTP != nil {
		if s.HTTP.WarmUpS > 0 {
			// Its POSTs would be delivered and counted among the receipts.
			fmt.Fprintln(os.Stderr, "loadgen: warm_up_s is for mode post only")
			os.Exit(2)
		}
		capacityN = capacity(s.HTTP)
	}
	posts := newPosts(capacityN, s.Tag)
	posts.external = s.ExternalPosts
	counters := &recvCounters{}
	receivers := newReceivers(s)
	connect := connectAll(ctx, s, receivers, openers(s, receivers, posts, clock, counters), counters, clock)
	fmt.Fprintf(os.Stderr, "loadgen: %d/%d subscribers ready in %.1f s\n", counters.connected.Load(), len(receivers), connect.Seconds())
	marker("ready", map[string]any{"connected": counters.connected.Load(), "connect_s": connect.Seconds()})
	time.Sleep(time.Duration(s.SettleS * float64(time.Second)))
	if s.HTTP != nil {
		runner := newHTTPRunner(s, posts, clock)
		marker("measure_start", nil)
		done := make(chan struct{})
		go progress(done, func() string {
			return liveLine(runner) + fmt.Sprintf(", receipts %d", counters.received.Load())
		})
		res.Phases = runner.Run(ctx)
		// The receipts still on their way: stop early once every expected one is in.
		deadline := time.Now().Add(time.Duration(s.DrainS * float64(time.Second)))
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if r := receiptResult(receivers, posts, counters, connect); r.Lost == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		close(done)
		marker("measure_end", nil)
		res.AcceptedPosts = posts.acceptedList()
	} else if s.ExternalPosts {
		waitExternalPosts(ctx, s, receivers, posts, counters, connect)
	}
	res.Receipts = receiptResult(receivers, posts, counters, connect)
	closeAll(receivers)
}

// collectLessOften raises Go's GC target to 400 % (unless GOGC is set) for the receivers:
// each receipt allocates a decoder buffer (centrifuge-go's JSON replies), and at thousands
// of receipts a second the default (100) collected many times a second, a third of the
// generator's CPU in scenario 2 at 500/s, on the servers' two cores. Posting allocates
// little; there the default stays (docs/performance.md, twenty-first pass).
func collectLessOften() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// runIdle: hold the connections until stdin closes (or hold_s), for the memory reading.
func runIdle(ctx context.Context, s *Scenario, clock *Clock, res *Result) {
	posts := newPosts(1, s.Tag)
	counters := &recvCounters{}
	receivers := newReceivers(s)
	connect := connectAll(ctx, s, receivers, openers(s, receivers, posts, clock, counters), counters, clock)
	fmt.Fprintf(os.Stderr, "loadgen: %d/%d idle clients connected in %.1f s\n", counters.connected.Load(), len(receivers), connect.Seconds())
	marker("held", map[string]any{"connected": counters.connected.Load(), "connect_s": connect.Seconds()})
	released := make(chan struct{})
	go func() {
		reader := bufio.NewReader(os.Stdin)
		for {
			if _, err := reader.ReadString('\n'); err != nil {
				close(released)
				return
			}
		}
	}()
	hold := time.Duration(s.HoldS * float64(time.Second))
	if hold <= 0 {
		hold = time.Minute
	}
	select {
	case <-released:
	case <-time.After(hold):
	case <-ctx.Done():
	}
	res.Receipts = receiptResult(receivers, posts, counters, connect)
	closeAll(receivers)
}

// waitExternalPosts: the poster is another process. Its list of accepted POSTs arrives as
// a file named on stdin; then the receipts still on their way get drain_s at most.
func waitExternalPosts(ctx context.Context, s *Scenario, receivers []*Receiver, posts *Posts, counters *recvCounters, connect time.Duration) {
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return
	}
	raw, err := os.ReadFile(strings.TrimSpace(line))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return
	}
	var list []AcceptedPost
	if err := json.Unmarshal(raw, &list); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return
	}
	// Receipts are written by the clients' goroutines: fill the table under their locks.
	for _, r := range receivers {
		r.mu.Lock()
	}
	posts.fill(list)
	for _, r := range receivers {
		r.mu.Unlock()
	}
	deadline := time.Now().Add(time.Duration(s.DrainS * float64(time.Second)))
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r := receiptResult(receivers, posts, counters, connect); r.Lost == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	marker("drained", map[string]any{"received": counters.received.Load()})
}
