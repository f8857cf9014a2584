package main

import (
	"math"
	"sort"
)

// Summary is what every latency sample set is reduced to, in milliseconds.
type Summary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// percentile is the nearest-rank p-th percentile of sorted values (as bench/stats.py).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// summarize sorts values in place.
func summarize(values []float64) *Summary {
	if len(values) == 0 {
		return nil
	}
	sort.Float64s(values)
	return &Summary{
		N:   len(values),
		P50: round2(percentile(values, 50)),
		P90: round2(percentile(values, 90)),
		P99: round2(percentile(values, 99)),
		Max: round2(values[len(values)-1]),
	}
}
