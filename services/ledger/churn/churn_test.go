package churn

import (
	"bufio"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Published BG/NBD estimates for the CDNOW sample (Fader, Hardie & Lee 2005).
var (
	publishedParams = Params{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	publishedLL     = -9582.4
)

// cdnowCalibrationEnd is the last day of the 39-week calibration period.
var cdnowCalibrationEnd = time.Date(1997, time.September, 30, 0, 0, 0, 0, time.UTC)

// loadCDNOW parses testdata/CDNOW_sample.txt into one Customer per sample
// customer id, ordered by id. Each line holds the master id, the sample id,
// the date (YYYYMMDD), the number of CDs and the dollar value. A customer
// starts at their first purchase; x counts the distinct purchase days up to
// and including calibrationEnd after the first; times are in weeks.
func loadCDNOW(tb testing.TB, calibrationEnd time.Time) []Customer {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "CDNOW_sample.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()

	days := make(map[int]map[time.Time]struct{}) // sample id → purchase days
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 5 {
			tb.Fatalf("line %d: want 5 fields, got %d: %q", line, len(fields), sc.Text())
		}
		id, err := strconv.Atoi(fields[1])
		if err != nil {
			tb.Fatalf("line %d: sample id: %v", line, err)
		}
		day, err := time.Parse("20060102", fields[2])
		if err != nil {
			tb.Fatalf("line %d: date: %v", line, err)
		}
		if days[id] == nil {
			days[id] = make(map[time.Time]struct{})
		}
		days[id][day] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}

	weeks := func(from, to time.Time) float64 { return to.Sub(from).Hours() / 24 / 7 }
	var cs []Customer
	for _, id := range slices.Sorted(maps.Keys(days)) {
		var cal []time.Time
		for d := range days[id] {
			if !d.After(calibrationEnd) {
				cal = append(cal, d)
			}
		}
		if len(cal) == 0 {
			continue // first purchase after calibration: not in the cohort
		}
		slices.SortFunc(cal, time.Time.Compare)
		first, last := cal[0], cal[len(cal)-1]
		cs = append(cs, Customer{
			X:  len(cal) - 1,
			TX: weeks(first, last),
			T:  weeks(first, calibrationEnd),
		})
	}
	return cs
}

// cdnowCustomers returns the CDNOW calibration summaries, parsed once.
func cdnowCustomers(tb testing.TB) []Customer {
	tb.Helper()
	cdnowOnce.Do(func() { cdnowData = loadCDNOW(tb, cdnowCalibrationEnd) })
	if cdnowData == nil {
		tb.Fatal("CDNOW data failed to load")
	}
	return cdnowData
}

var (
	cdnowOnce sync.Once
	cdnowData []Customer
)

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

func TestLoadCDNOW(t *testing.T) {
	cs := cdnowCustomers(t)
	if len(cs) != 2357 {
		t.Fatalf("got %d customers, want 2357", len(cs))
	}
	// Sample customer 0001 bought on 1997-01-01, 01-18, 08-02 and 12-12.
	want := Customer{X: 2, TX: 213.0 / 7, T: 272.0 / 7}
	if got := cs[0]; got.X != want.X || math.Abs(got.TX-want.TX) > 1e-12 || math.Abs(got.T-want.T) > 1e-12 {
		t.Errorf("customer 1 = %+v, want %+v", got, want)
	}
	var oneTime, repeats int
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			t.Errorf("customer %d: %v", i+1, err)
		}
		if c.X == 0 {
			oneTime++
		}
		repeats += c.X
	}
	t.Logf("%d customers, %d without repeat purchases, %d repeat purchases in calibration", len(cs), oneTime, repeats)
}

func TestFitCDNOW(t *testing.T) {
	cs := cdnowCustomers(t)
	start := time.Now()
	p, ll, err := Fit(cs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit in %v: r=%.6f alpha=%.6f a=%.6f b=%.6f LL=%.6f", time.Since(start), p.R, p.Alpha, p.A, p.B, ll)

	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", p.R, publishedParams.R},
		{"alpha", p.Alpha, publishedParams.Alpha},
		{"a", p.A, publishedParams.A},
		{"b", p.B, publishedParams.B},
		{"LL", ll, publishedLL},
	} {
		if e := relErr(c.got, c.want); e > 0.005 {
			t.Errorf("%s = %v, published %v: relative error %.3g > 0.5%%", c.name, c.got, c.want, e)
		}
	}
	if math.Abs(ll-publishedLL) > 0.1 {
		t.Errorf("LL = %v, want within 0.1 of %v", ll, publishedLL)
	}
	if got := LogLikelihood(p, cs); got != ll {
		t.Errorf("Fit returned LL %v, LogLikelihood at its estimate is %v", ll, got)
	}
	// The fit is a maximum: no parameter nudged by ±0.1% does better.
	for i := range 4 {
		for _, f := range []float64{0.999, 1.001} {
			theta := logParams(p)
			theta[i] += math.Log(f)
			if q := paramsFromLog(theta); LogLikelihood(q, cs) > ll+1e-9 {
				t.Errorf("LL at %+v = %v exceeds fitted %v", q, LogLikelihood(q, cs), ll)
			}
		}
	}
	// Identical histories are merged inside Fit; that must not change LL.
	if got := newSample(cs).logLikelihood(p); math.Abs(got-ll) > 1e-8 {
		t.Errorf("aggregated LL %v differs from LogLikelihood %v", got, ll)
	}
}

func TestLogLikelihoodPublished(t *testing.T) {
	ll := LogLikelihood(publishedParams, cdnowCustomers(t))
	t.Logf("LL at published parameters = %.4f", ll)
	if math.Abs(ll-publishedLL) > 0.5 {
		t.Errorf("LL at published parameters = %v, want within 0.5 of %v", ll, publishedLL)
	}
}

func TestLogLikelihoodInvalid(t *testing.T) {
	cs := []Customer{{X: 1, TX: 1, T: 2}}
	if got := LogLikelihood(Params{R: -1, Alpha: 1, A: 1, B: 1}, cs); !math.IsNaN(got) {
		t.Errorf("invalid params: got %v, want NaN", got)
	}
	if got := LogLikelihood(publishedParams, []Customer{{X: 1, TX: 3, T: 2}}); !math.IsNaN(got) {
		t.Errorf("invalid customer: got %v, want NaN", got)
	}
	if got := LogLikelihood(publishedParams, nil); got != 0 {
		t.Errorf("no customers: got %v, want 0", got)
	}
}

func TestLogLikelihoodIndividual(t *testing.T) {
	// Equation 6 evaluated directly, without logs, for a moderate case.
	p := Params{R: 0.8, Alpha: 3, A: 1.2, B: 2.5}
	c := Customer{X: 3, TX: 7, T: 12}
	x := float64(c.X)
	g := func(v float64) float64 { return math.Gamma(v) }
	want := g(p.R+x) * math.Pow(p.Alpha, p.R) / g(p.R) *
		g(p.A+p.B) * g(p.B+x) / (g(p.B) * g(p.A+p.B+x)) *
		(math.Pow(p.Alpha+c.T, -(p.R+x)) + p.A/(p.B+x-1)*math.Pow(p.Alpha+c.TX, -(p.R+x)))
	if got := LogLikelihood(p, []Customer{c}); math.Abs(got-math.Log(want)) > 1e-12 {
		t.Errorf("LL = %v, want %v", got, math.Log(want))
	}
	// x = 0: only the (α+T) term.
	c0 := Customer{T: 12}
	want0 := math.Pow(p.Alpha/(p.Alpha+c0.T), p.R)
	if got := LogLikelihood(p, []Customer{c0}); math.Abs(got-math.Log(want0)) > 1e-12 {
		t.Errorf("LL(x=0) = %v, want %v", got, math.Log(want0))
	}
	// Huge x and T stay finite thanks to log-gamma and log-sum-exp.
	if got := LogLikelihood(p, []Customer{{X: 5000, TX: 9000, T: 10000}}); !isFinite(got) {
		t.Errorf("LL for a heavy buyer = %v, want finite", got)
	}
}

func TestFitErrors(t *testing.T) {
	if _, _, err := Fit(nil); !errors.Is(err, ErrNoData) {
		t.Errorf("Fit(nil) error = %v, want ErrNoData", err)
	}
	if _, _, err := Fit([]Customer{}); !errors.Is(err, ErrNoData) {
		t.Errorf("Fit(empty) error = %v, want ErrNoData", err)
	}
	for _, c := range []Customer{
		{X: -1, T: 1},
		{X: 1, TX: 2, T: 1},
		{X: 1, TX: -1, T: 1},
		{X: 0, T: math.NaN()},
		{X: 1, TX: 1, T: math.Inf(1)},
	} {
		if _, _, err := Fit([]Customer{{X: 1, TX: 1, T: 2}, c}); !errors.Is(err, ErrInvalidCustomer) {
			t.Errorf("Fit with %+v: error = %v, want ErrInvalidCustomer", c, err)
		}
	}
}

// simulate draws n customers from the BG/NBD model with parameters p,
// observation windows uniform on [minT, maxT].
func simulate(rng *rand.Rand, p Params, n int, minT, maxT float64) []Customer {
	cs := make([]Customer, n)
	for i := range cs {
		lambda := gammaVariate(rng, p.R) / p.Alpha
		ga, gb := gammaVariate(rng, p.A), gammaVariate(rng, p.B)
		drop := ga / (ga + gb)
		T := minT + (maxT-minT)*rng.Float64()
		c := Customer{T: T}
		for now := 0.0; ; {
			now += rng.ExpFloat64() / lambda
			if now > T {
				break
			}
			c.X++
			c.TX = now
			if rng.Float64() < drop {
				break
			}
		}
		cs[i] = c
	}
	return cs
}

// gammaVariate draws from Gamma(shape, 1) by Marsaglia & Tsang's method.
func gammaVariate(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return gammaVariate(rng, shape+1) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

func TestFitSimulated(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation fit skipped in -short mode")
	}
	truth := Params{R: 0.6, Alpha: 3, A: 0.8, B: 2.5}
	cs := simulate(rand.New(rand.NewPCG(1, 2)), truth, 20000, 30, 60)
	p, ll, err := Fit(cs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("truth %+v, fitted %+v, LL %.3f", truth, p, ll)
	if llTruth := LogLikelihood(truth, cs); ll < llTruth {
		t.Errorf("fitted LL %v is below LL at the true parameters %v", ll, llTruth)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"r", p.R, truth.R}, {"alpha", p.Alpha, truth.Alpha}, {"a", p.A, truth.A}, {"b", p.B, truth.B}} {
		if e := relErr(c.got, c.want); e > 0.2 {
			t.Errorf("%s = %v, truth %v: relative error %.3g > 20%%", c.name, c.got, c.want, e)
		}
	}
}

func TestPAlive(t *testing.T) {
	p := publishedParams
	for _, T := range []float64{0, 1, 38.86, 100, 1e6} {
		if got := p.PAlive(Customer{X: 0, T: T}); got != 1 {
			t.Errorf("PAlive(x=0, T=%v) = %v, want exactly 1", T, got)
		}
	}
	for _, x := range []int{1, 2, 5, 20} {
		tx := 10.0
		prev := math.Inf(1)
		for _, T := range []float64{10, 11, 15, 20, 39, 78, 200, 1000} {
			got := p.PAlive(Customer{X: x, TX: tx, T: T})
			if !(got > 0 && got <= 1) {
				t.Fatalf("PAlive(x=%d, tx=%v, T=%v) = %v, want in (0, 1]", x, tx, T, got)
			}
			if got >= prev {
				t.Errorf("PAlive(x=%d, tx=%v) not decreasing in T: %v at T=%v after %v", x, tx, got, T, prev)
			}
			prev = got
		}
	}
	// Direct evaluation of the formula for sample customer 0001.
	c := Customer{X: 2, TX: 213.0 / 7, T: 272.0 / 7}
	want := 1 / (1 + p.A/(p.B+1)*math.Pow((p.Alpha+c.T)/(p.Alpha+c.TX), p.R+2))
	if got := p.PAlive(c); math.Abs(got-want) > 1e-14 {
		t.Errorf("PAlive(%+v) = %v, want %v", c, got, want)
	}
	if got := p.PAlive(Customer{X: 1, TX: 2, T: 1}); !math.IsNaN(got) {
		t.Errorf("PAlive(invalid) = %v, want NaN", got)
	}
}

// expectedPurchasesDirect evaluates equation 10 literally, with
// ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t)).
func expectedPurchasesDirect(p Params, c Customer, t float64) float64 {
	x := float64(c.X)
	z := t / (p.Alpha + c.T + t)
	num := (p.A + p.B + x - 1) / (p.A - 1) *
		(1 - math.Pow((p.Alpha+c.T)/(p.Alpha+c.T+t), p.R+x)*hyp2f1(p.R+x, p.B+x, p.A+p.B+x-1, z))
	den := 1.0
	if c.X > 0 {
		den += p.A / (p.B + x - 1) * math.Pow((p.Alpha+c.T)/(p.Alpha+c.TX), p.R+x)
	}
	return num / den
}

func TestExpectedPurchases(t *testing.T) {
	p := publishedParams
	customers := []Customer{
		{X: 0, T: 38.86},
		{X: 0, T: 0},
		{X: 2, TX: 213.0 / 7, T: 272.0 / 7},
		{X: 1, TX: 2, T: 38},
		{X: 7, TX: 35, T: 36},
		{X: 20, TX: 30, T: 39},
	}
	for _, c := range customers {
		if got := p.ExpectedPurchases(c, 0); got != 0 {
			t.Errorf("E[Y(0) | %+v] = %v, want 0", c, got)
		}
		prev := 0.0
		for _, h := range []float64{0.01, 1, 5, 13, 39, 52, 78, 200, 1000} {
			got := p.ExpectedPurchases(c, h)
			if !(got >= 0) || !isFinite(got) {
				t.Fatalf("E[Y(%v) | %+v] = %v, want finite and ≥ 0", h, c, got)
			}
			if got <= prev {
				t.Errorf("E[Y(t) | %+v] not increasing: %v at t=%v after %v", c, got, h, prev)
			}
			prev = got
			if want := expectedPurchasesDirect(p, c, h); relErr(got, want) > 1e-9 {
				t.Errorf("E[Y(%v) | %+v] = %v, equation 10 evaluated directly gives %v", h, c, got, want)
			}
		}
	}
	c1 := Customer{X: 2, TX: 213.0 / 7, T: 272.0 / 7}
	t.Logf("sample customer 0001 %+v: P(alive) = %.4f, E[Y(39)] = %.4f", c1, p.PAlive(c1), p.ExpectedPurchases(c1, 39))

	// Heavy buyers: the direct form overflows, the transformed one does not.
	heavy := Customer{X: 2000, TX: 2590, T: 2600}
	got := p.ExpectedPurchases(heavy, 52)
	rate := float64(heavy.X) / heavy.T
	if !isFinite(got) || got <= 0 || got > 2*rate*52 {
		t.Errorf("E[Y(52) | %+v] = %v, want finite, positive and near %v", heavy, got, rate*52)
	}
	// A customer with no repeats and T = 0 is a new customer.
	for _, h := range []float64{1, 39, 78} {
		if a, b := p.ExpectedPurchases(Customer{}, h), p.ExpectedPurchasesNew(h); relErr(a, b) > 1e-14 {
			t.Errorf("E[Y(%v) | new] = %v, E[X(%v)] = %v", h, a, h, b)
		}
	}
	// The longer a one-time buyer has been silent, the fewer purchases.
	if young, old := p.ExpectedPurchases(Customer{T: 5}, 39), p.ExpectedPurchases(Customer{T: 50}, 39); young <= old {
		t.Errorf("E[Y(39)] for a one-time buyer: %v at T=5, %v at T=50; want decreasing", young, old)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if got := p.ExpectedPurchases(c1, bad); !math.IsNaN(got) {
			t.Errorf("E[Y(%v)] = %v, want NaN", bad, got)
		}
	}
}

// expectedPurchasesNewIntegral computes E[X(t)] without ₂F₁, from
// E[X(t) | λ, p] = (1 − e^(−λpt))/p averaged over λ ~ gamma(r, α), which
// gives (1 − (α/(α+pt))^r)/p, and then over p ~ beta(a, b) numerically.
// Substituting p = u^(1/a) absorbs the p^(a−1) singularity of the beta
// density; the integral over u ∈ [0, 1] is done by composite Simpson.
func expectedPurchasesNewIntegral(p Params, t float64) float64 {
	lnBeta := lgamma(p.A) + lgamma(p.B) - lgamma(p.A+p.B)
	f := func(u float64) float64 {
		q := math.Pow(u, 1/p.A)
		if q >= 1 {
			return 0
		}
		var g float64
		if q == 0 {
			g = p.R * t / p.Alpha
		} else {
			g = -math.Expm1(-p.R*math.Log1p(q*t/p.Alpha)) / q
		}
		return g * math.Exp((p.B-1)*math.Log1p(-q)-lnBeta) / p.A
	}
	const n = 200_000
	h := 1.0 / n
	sum := f(0) + f(1)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(float64(i)*h)
	}
	return sum * h / 3
}

func TestExpectedPurchasesNew(t *testing.T) {
	p := publishedParams
	if got := p.ExpectedPurchasesNew(0); got != 0 {
		t.Errorf("E[X(0)] = %v, want 0", got)
	}
	prev := 0.0
	for _, h := range []float64{1e-6, 0.01, 0.5, 1, 5, 13, 26, 39, 52, 78, 500, 5000} {
		got := p.ExpectedPurchasesNew(h)
		if !(got > prev) || !isFinite(got) {
			t.Errorf("E[X(%v)] = %v, want finite and above %v", h, got, prev)
		}
		prev = got
		// Equation 7 literally.
		z := h / (p.Alpha + h)
		direct := (p.A + p.B - 1) / (p.A - 1) * (1 - math.Pow(p.Alpha/(p.Alpha+h), p.R)*hyp2f1(p.R, p.B, p.A+p.B-1, z))
		tol := 1e-9
		if h < 0.1 {
			tol = 1e-6 // the direct form loses digits to cancellation near 0
		}
		if relErr(got, direct) > tol {
			t.Errorf("E[X(%v)] = %v, equation 7 evaluated directly gives %v", h, got, direct)
		}
	}
	for _, h := range []float64{0.01, 1, 13, 39, 78} {
		got, want := p.ExpectedPurchasesNew(h), expectedPurchasesNewIntegral(p, h)
		if relErr(got, want) > 1e-6 {
			t.Errorf("E[X(%v)] = %v, numerical integral gives %v", h, got, want)
		}
	}
	// For small t, E[X(t)] ≈ E[λ] t = (r/α) t: nobody has dropped out yet.
	if h := 1e-4; relErr(p.ExpectedPurchasesNew(h), p.R/p.Alpha*h) > 1e-3 {
		t.Errorf("E[X(%v)] = %v, want ≈ rt/α = %v", h, p.ExpectedPurchasesNew(h), p.R/p.Alpha*h)
	}
	t.Logf("E[X(t)] at the published parameters: t=39: %.4f, t=78: %.4f", p.ExpectedPurchasesNew(39), p.ExpectedPurchasesNew(78))
	// The series is capped; absurd horizons report NaN rather than garbage.
	if got := p.ExpectedPurchasesNew(1e7); !math.IsNaN(got) {
		t.Errorf("E[X(1e7)] = %v, want NaN (series cap)", got)
	}
	if got := (Params{}).ExpectedPurchasesNew(1); !math.IsNaN(got) {
		t.Errorf("E[X(1)] with zero params = %v, want NaN", got)
	}
}

func TestExpectedPurchasesAtAEqualsOne(t *testing.T) {
	// Equation 7 and 10 are 0/0 at a = 1; the result must be continuous.
	for _, h := range []float64{1, 39, 500} {
		at := Params{R: 0.5, Alpha: 4, A: 1, B: 2}
		lo, hi := at, at
		lo.A, hi.A = 1-1e-7, 1+1e-7
		c := Customer{X: 3, TX: 20, T: 30}
		for _, f := range []func(Params) float64{
			func(q Params) float64 { return q.ExpectedPurchasesNew(h) },
			func(q Params) float64 { return q.ExpectedPurchases(c, h) },
		} {
			v, l, u := f(at), f(lo), f(hi)
			if !isFinite(v) || relErr(v, (l+u)/2) > 1e-6 {
				t.Errorf("t=%v: value at a=1 is %v, neighbours %v and %v", h, v, l, u)
			}
		}
	}
	// a + b = 1 makes c = a+b−1 vanish in equation 7; still finite.
	if got := (Params{R: 0.5, Alpha: 4, A: 0.4, B: 0.6}).ExpectedPurchasesNew(10); !isFinite(got) || got <= 0 {
		t.Errorf("E[X(10)] at a+b=1 = %v, want finite and positive", got)
	}
}

// Large a and b (almost nobody drops out, so the dropout probability is
// nearly fixed) need the direct series: the result is finite, continuous
// where the two forms meet at a = 2, and tends to the fixed-p model.
func TestExpectedPurchasesLargeAB(t *testing.T) {
	// With p fixed: E[X(t)] = (1 − (α/(α+pt))^r)/p.
	q := Params{R: 0.5, Alpha: 4, A: 1e6, B: 3e6}
	p := 0.25
	for _, h := range []float64{1, 26, 52} {
		want := -math.Expm1(q.R*math.Log(q.Alpha/(q.Alpha+p*h))) / p
		if got := q.ExpectedPurchasesNew(h); relErr(got, want) > 1e-5 {
			t.Errorf("E[X(%v)] at a=1e6, b=3e6 = %v, fixed-p limit %v", h, got, want)
		}
		if got := q.ExpectedPurchases(Customer{X: 4, TX: 30, T: 40}, h); !isFinite(got) || got <= 0 {
			t.Errorf("E[Y(%v)] at a=1e6, b=3e6 = %v", h, got)
		}
	}
	for _, c := range []Customer{{}, {X: 3, TX: 20, T: 30}, {X: 40, TX: 60, T: 61}} {
		lo := Params{R: 0.8, Alpha: 6, A: 2 - 1e-9, B: 5}
		hi := lo
		hi.A = 2 + 1e-9
		for _, h := range []float64{0.5, 26, 104} {
			if l, u := lo.ExpectedPurchases(c, h), hi.ExpectedPurchases(c, h); !isFinite(l) || relErr(l, u) > 1e-8 {
				t.Errorf("%+v, t=%v: %v just below a=2, %v just above", c, h, l, u)
			}
		}
	}
}

func TestHyp2F1(t *testing.T) {
	for _, c := range []struct {
		name       string
		a, b, cc   float64
		z, want    float64
		tolerances float64
	}{
		{"log", 1, 1, 2, 0.5, -math.Log(0.5) / 0.5, 1e-14},
		{"log near 1", 1, 1, 2, 0.99, -math.Log(0.01) / 0.99, 1e-13},
		{"binomial", 0.7, 3.2, 3.2, 0.6, math.Pow(0.4, -0.7), 1e-14},
		{"arcsin", 0.5, 0.5, 1.5, 0.25, math.Asin(0.5) / 0.5, 1e-14},
		{"negative z", 1, 1, 2, -0.5, math.Log(1.5) / 0.5, 1e-14},
		{"polynomial", -2, 1, 1, 0.3, 1 - 2*0.3 + 0.3*0.3, 1e-15},
		{"zero z", 3, 4, 5, 0, 1, 0},
	} {
		got := hyp2f1(c.a, c.b, c.cc, c.z)
		if math.Abs(got-c.want) > c.tolerances*math.Abs(c.want) {
			t.Errorf("%s: 2F1(%v, %v; %v; %v) = %v, want %v", c.name, c.a, c.b, c.cc, c.z, got, c.want)
		}
	}
	for _, c := range [][4]float64{{1, 1, 2, 1}, {1, 1, 2, -1.5}, {1, 1, 0, 0.5}, {1, 1, -3, 0.5}} {
		if got := hyp2f1(c[0], c[1], c[2], c[3]); !math.IsNaN(got) {
			t.Errorf("2F1%v = %v, want NaN", c, got)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	if err := publishedParams.Validate(); err != nil {
		t.Errorf("published params: %v", err)
	}
	for _, p := range []Params{{}, {R: 1, Alpha: 1, A: 1, B: -1}, {R: math.NaN(), Alpha: 1, A: 1, B: 1}, {R: 1, Alpha: math.Inf(1), A: 1, B: 1}} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: error %v, want ErrInvalidParams", p, err)
		}
	}
}

func BenchmarkFit(b *testing.B) {
	cs := cdnowCustomers(b)
	for b.Loop() {
		if _, _, err := Fit(cs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLogLikelihood(b *testing.B) {
	cs := cdnowCustomers(b)
	for b.Loop() {
		LogLikelihood(publishedParams, cs)
	}
}
