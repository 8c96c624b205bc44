// Package churn implements the BG/NBD ("beta-geometric / negative binomial
// distribution") model of repeat buying in a non-contractual setting, from
// Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
// Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275–284.
//
// # The model
//
// While a customer is active, their repeat purchases follow a Poisson process
// with rate λ, and λ varies across customers as a gamma distribution with
// shape r and rate α. After each repeat purchase the customer becomes
// inactive ("drops out") for good with probability p, and p varies across
// customers as a beta distribution with parameters a and b. λ and p are
// independent. The four population parameters (r, α, a, b) are estimated by
// maximum likelihood ([Fit]) from each customer's calibration-period history.
//
// # Inputs
//
// A customer's history is summarised by three sufficient statistics
// ([Customer]): x, the number of repeat purchases (the first purchase is not
// counted); t_x, the time of the last purchase measured from the first; and
// T, the length of the observation window measured from the first purchase.
// All times share one unit, and α is expressed in it (the published CDNOW
// estimates are in weeks). Purchases should be counted as distinct purchase
// occasions (here, distinct days), not as line items.
//
// # Outputs and their limits
//
// [Params.PAlive] is the posterior probability that the customer is still
// active at T. In BG/NBD a customer can only drop out immediately after a
// repeat purchase, so a customer with x = 0 has had no opportunity to drop
// out and P(alive) is exactly 1 for every one-time buyer, however long ago
// they bought. P(alive) on its own is therefore a poor churn flag: it
// declares the largest group of lapsed customers — those who never came
// back — certainly alive. The better churn signal is
// [Params.ExpectedPurchases], the expected number of purchases over a future
// horizon, which combines P(alive) with the customer's estimated purchase
// rate and is small both for dead customers and for one-time buyers who have
// been silent for a long time. [Params.ExpectedPurchasesNew] gives the
// corresponding figure for a newly acquired customer.
//
// The model also assumes stationary purchase rates (no seasonality, trend or
// promotions), no covariates and no monetary value; it describes a cohort
// and should be refitted when the customer base or programme changes.
package churn

import (
	"errors"
	"fmt"
	"math"
)

// Customer is one customer's purchase history in the calibration period,
// in the model's time unit (weeks here): X repeat purchases (distinct
// purchase days after the first), TX the time of the last purchase since the
// first, T the length of the observation window since the first purchase.
//
// A valid Customer has X ≥ 0 and 0 ≤ TX ≤ T, all finite. TX is ignored when
// X is 0.
type Customer struct {
	X     int
	TX, T float64
}

// Params are the BG/NBD parameters: R and Alpha are the shape and rate of
// the gamma distribution of purchase rates (Alpha in the data's time unit),
// A and B the parameters of the beta distribution of dropout probabilities.
// All four must be positive and finite.
type Params struct {
	R, Alpha, A, B float64
}

// Errors reported by this package; test for them with [errors.Is].
var (
	// ErrNoData is returned by Fit when it is given no customers.
	ErrNoData = errors.New("churn: no customers")
	// ErrInvalidCustomer reports a Customer that violates its invariants.
	ErrInvalidCustomer = errors.New("churn: invalid customer")
	// ErrInvalidParams reports Params that are not all positive and finite.
	ErrInvalidParams = errors.New("churn: invalid parameters")
	// ErrNoFiniteLikelihood is returned by Fit when no starting point or
	// search step yields a finite log-likelihood.
	ErrNoFiniteLikelihood = errors.New("churn: no finite log-likelihood")
)

// Validate reports whether c satisfies the invariants documented on
// Customer. The error wraps ErrInvalidCustomer.
func (c Customer) Validate() error {
	switch {
	case c.X < 0:
		return fmt.Errorf("%w: negative repeat purchases X = %d", ErrInvalidCustomer, c.X)
	case !isFinite(c.T) || c.T < 0:
		return fmt.Errorf("%w: observation window T = %v is not a finite non-negative number", ErrInvalidCustomer, c.T)
	case c.X > 0 && (!isFinite(c.TX) || c.TX < 0 || c.TX > c.T):
		return fmt.Errorf("%w: last purchase TX = %v is outside [0, T = %v]", ErrInvalidCustomer, c.TX, c.T)
	}
	return nil
}

// Validate reports whether all four parameters are positive and finite. The
// error wraps ErrInvalidParams.
func (p Params) Validate() error {
	for _, v := range [...]struct {
		name string
		val  float64
	}{{"r", p.R}, {"alpha", p.Alpha}, {"a", p.A}, {"b", p.B}} {
		if !isFinite(v.val) || v.val <= 0 {
			return fmt.Errorf("%w: %s = %v is not positive and finite", ErrInvalidParams, v.name, v.val)
		}
	}
	return nil
}

// LogLikelihood returns the sum over cs of the individual BG/NBD
// log-likelihoods (equation 6 of the paper):
//
//	LL_i = ln[Γ(r+x) α^r / Γ(r)] + ln[Γ(a+b) Γ(b+x) / (Γ(b) Γ(a+b+x))]
//	     + ln[(α+T)^−(r+x) + δ_{x>0} (a/(b+x−1)) (α+t_x)^−(r+x)]
//
// The gamma functions are evaluated on the log scale and the last term by
// log-sum-exp, so large x, T or α do not overflow. It returns NaN if p or any
// customer is invalid, and 0 for an empty slice.
func LogLikelihood(p Params, cs []Customer) float64 {
	if p.Validate() != nil {
		return math.NaN()
	}
	k := newLLConsts(p)
	var sum float64
	for _, c := range cs {
		if c.Validate() != nil {
			return math.NaN()
		}
		x := float64(c.X)
		sum += k.individual(p, c.X, c.TX, c.T, lgamma(p.R+x), lgamma(p.B+x), lgamma(p.A+p.B+x))
	}
	return sum
}

// llConsts holds the parameter-only terms of the log-likelihood.
type llConsts struct {
	lgR, lgB, lgAB, lnAlpha, lnA float64
}

func newLLConsts(p Params) llConsts {
	return llConsts{
		lgR:     lgamma(p.R),
		lgB:     lgamma(p.B),
		lgAB:    lgamma(p.A + p.B),
		lnAlpha: math.Log(p.Alpha),
		lnA:     math.Log(p.A),
	}
}

// individual is one customer's log-likelihood given the x-dependent log-gamma
// terms lgRX = lnΓ(r+x), lgBX = lnΓ(b+x) and lgABX = lnΓ(a+b+x).
func (k llConsts) individual(p Params, x int, tx, t, lgRX, lgBX, lgABX float64) float64 {
	xf := float64(x)
	rx := p.R + xf
	lnA := lgRX - k.lgR + p.R*k.lnAlpha
	lnB := k.lgAB + lgBX - k.lgB - lgABX
	lnC := -rx * math.Log(p.Alpha+t)
	if x > 0 {
		lnC = logAddExp(lnC, k.lnA-math.Log(p.B+xf-1)-rx*math.Log(p.Alpha+tx))
	}
	return lnA + lnB + lnC
}

// Fit estimates the BG/NBD parameters from cs by maximum likelihood and
// returns them with the maximised log-likelihood, LogLikelihood(p, cs).
//
// The search runs over the logarithms of the four parameters, so they stay
// positive, using a Nelder–Mead simplex (see nelderMead) from several
// starting points — (1, 1, 1, 1), (0.5, 5, 0.5, 2) and a moment-based
// guess — each restarted from its best point until a restart improves the
// log-likelihood by less than a relative 1e-12. Identical histories are
// aggregated first, which makes each likelihood evaluation proportional to
// the number of distinct histories rather than customers.
//
// The log-parameters are confined to [−40, 40]. If the likelihood has no
// interior maximum (for example, no customer ever seems to drop out, so b
// grows without bound), the estimate stops at that box or at the iteration
// cap and should not be trusted.
//
// Fit returns an error wrapping ErrNoData for an empty slice,
// ErrInvalidCustomer for an invalid customer and ErrNoFiniteLikelihood if no
// finite log-likelihood is found.
func Fit(cs []Customer) (Params, float64, error) {
	if len(cs) == 0 {
		return Params{}, 0, fmt.Errorf("churn: fit: %w", ErrNoData)
	}
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			return Params{}, 0, fmt.Errorf("churn: fit: customer %d: %w", i, err)
		}
	}
	s := newSample(cs)
	objective := func(theta []float64) float64 {
		for _, v := range theta {
			if !(math.Abs(v) <= maxLogParam) {
				return math.Inf(1)
			}
		}
		ll := s.logLikelihood(paramsFromLog(theta))
		if !isFinite(ll) {
			return math.Inf(1)
		}
		return -ll
	}

	var (
		best  []float64
		bestF = math.Inf(1)
	)
	for _, start := range s.starts() {
		theta, f := minimize(objective, logParams(start))
		if f < bestF {
			best, bestF = theta, f
		}
	}
	if best == nil || !isFinite(bestF) {
		return Params{}, 0, fmt.Errorf("churn: fit over %d customers: %w", len(cs), ErrNoFiniteLikelihood)
	}
	p := paramsFromLog(best)
	ll := LogLikelihood(p, cs)
	if !isFinite(ll) {
		return Params{}, 0, fmt.Errorf("churn: fit over %d customers: %w", len(cs), ErrNoFiniteLikelihood)
	}
	return p, ll, nil
}

// maxLogParam bounds |ln θ| for every parameter θ during the search.
const maxLogParam = 40

func logParams(p Params) []float64 {
	return []float64{math.Log(p.R), math.Log(p.Alpha), math.Log(p.A), math.Log(p.B)}
}

func paramsFromLog(theta []float64) Params {
	return Params{R: math.Exp(theta[0]), Alpha: math.Exp(theta[1]), A: math.Exp(theta[2]), B: math.Exp(theta[3])}
}

// sample is a set of validated customers with identical histories merged.
type sample struct {
	xs     []int       // distinct values of X
	groups []histGroup // distinct histories
}

// histGroup is n customers sharing one history; xi indexes sample.xs.
type histGroup struct {
	xi    int
	tx, t float64
	n     float64
}

func newSample(cs []Customer) *sample {
	type key struct {
		x     int
		tx, t float64
	}
	s := &sample{}
	xIndex := make(map[int]int)
	gIndex := make(map[key]int)
	for _, c := range cs {
		k := key{c.X, c.TX, c.T}
		if c.X == 0 {
			k.tx = 0 // TX is irrelevant without repeat purchases
		}
		if g, ok := gIndex[k]; ok {
			s.groups[g].n++
			continue
		}
		xi, ok := xIndex[c.X]
		if !ok {
			xi = len(s.xs)
			xIndex[c.X] = xi
			s.xs = append(s.xs, c.X)
		}
		gIndex[k] = len(s.groups)
		s.groups = append(s.groups, histGroup{xi: xi, tx: k.tx, t: k.t, n: 1})
	}
	return s
}

// logLikelihood equals LogLikelihood(p, cs) for the customers s was built
// from, up to rounding, computing each x-dependent log-gamma term once.
func (s *sample) logLikelihood(p Params) float64 {
	if p.Validate() != nil {
		return math.NaN()
	}
	k := newLLConsts(p)
	lg := make([][3]float64, len(s.xs))
	for i, x := range s.xs {
		xf := float64(x)
		lg[i] = [3]float64{lgamma(p.R + xf), lgamma(p.B + xf), lgamma(p.A + p.B + xf)}
	}
	var sum float64
	for _, g := range s.groups {
		l := lg[g.xi]
		sum += g.n * k.individual(p, s.xs[g.xi], g.tx, g.t, l[0], l[1], l[2])
	}
	return sum
}

// starts returns the starting points for Fit: two fixed ones and one from
// the data, which sets r = 1 and α so that the mean purchase rate r/α equals
// total repeat purchases over total exposure, with a = 1 and b = 3.
func (s *sample) starts() []Params {
	starts := []Params{
		{R: 1, Alpha: 1, A: 1, B: 1},
		{R: 0.5, Alpha: 5, A: 0.5, B: 2},
	}
	var purchases, exposure float64
	for _, g := range s.groups {
		purchases += g.n * float64(s.xs[g.xi])
		exposure += g.n * g.t
	}
	if purchases > 0 && exposure > 0 {
		starts = append(starts, Params{R: 1, Alpha: exposure / purchases, A: 1, B: 3})
	}
	return starts
}

// PAlive returns P(alive | x, t_x, T), the probability that the customer is
// still active at the end of the observation window (derived in Fader,
// Hardie & Lee's note "Computing P(alive) Using the BG/NBD Model"; its
// reciprocal is the denominator of equation 10 of the paper):
//
//	P(alive) = 1 / (1 + δ_{x>0} (a/(b+x−1)) ((α+T)/(α+t_x))^(r+x))
//
// It is exactly 1 for x = 0, because BG/NBD customers can only drop out right
// after a repeat purchase; see the package documentation for why that makes
// P(alive) alone a poor churn flag. It returns NaN if p or c is invalid.
func (p Params) PAlive(c Customer) float64 {
	if p.Validate() != nil || c.Validate() != nil {
		return math.NaN()
	}
	return 1 / (1 + p.deadOdds(c))
}

// deadOdds returns δ_{x>0} (a/(b+x−1)) ((α+T)/(α+t_x))^(r+x), the posterior
// odds of having dropped out, computed on the log scale. It overflows to +Inf
// rather than producing NaN.
func (p Params) deadOdds(c Customer) float64 {
	if c.X == 0 {
		return 0
	}
	xf := float64(c.X)
	lnRatio := math.Log1p((c.T - c.TX) / (p.Alpha + c.TX)) // ln((α+T)/(α+t_x))
	return math.Exp(math.Log(p.A) - math.Log(p.B+xf-1) + (p.R+xf)*lnRatio)
}

// ExpectedPurchases returns E[Y(t) | x, t_x, T], the expected number of
// purchases in the interval (T, T+t] for a customer with history c
// (equation 10 of the paper):
//
//	E[Y(t)] = (a+b+x−1)/(a−1)
//	          · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)]
//	          / (1 + δ_{x>0} (a/(b+x−1)) ((α+T)/(α+t_x))^(r+x)),
//	z = t/(α+T+t).
//
// The bracket is evaluated through Euler's transformation
// ₂F₁(α₁, β₁; γ; z) = (1−z)^(γ−α₁−β₁) ₂F₁(γ−α₁, γ−β₁; γ; z), which turns it
// into 1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z): the same value, but
// free of the overflow of (1−z)^−(r+x) for large x and of the 0/0 at a = 1,
// where the result is the (finite) limit. See hyp2f1 for the series and its
// stopping rule.
//
// This is the recommended churn signal: it is low for customers who are
// probably inactive and for one-time buyers long silent. It returns NaN if p
// or c is invalid, if t is negative or not finite, or if the series fails to
// converge, which happens only for horizons beyond roughly 30,000 × (α+T).
func (p Params) ExpectedPurchases(c Customer, t float64) float64 {
	if p.Validate() != nil || c.Validate() != nil || !isFinite(t) || t < 0 {
		return math.NaN()
	}
	return p.growth(c.X, c.T, t) / (1 + p.deadOdds(c))
}

// ExpectedPurchasesNew returns E[X(t)], the expected number of repeat
// purchases in the first t time units after a new customer's first purchase
// (equation 7 of the paper):
//
//	E[X(t)] = (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))]
//
// evaluated, like ExpectedPurchases, through Euler's transformation (it is
// the x = 0, T = 0 case of equation 10). E[X(0)] = 0. It returns NaN if p is
// invalid, if t is negative or not finite, or if the series fails to
// converge (horizons beyond roughly 30,000 × α).
func (p Params) ExpectedPurchasesNew(t float64) float64 {
	if p.Validate() != nil || !isFinite(t) || t < 0 {
		return math.NaN()
	}
	return p.growth(0, 0, t)
}

// growth returns
//
//	G = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)]
//
// with z = t/(α+T+t). With c = a+b+x−1, ε = a−1, A = a+b−1−r and
// L = ln(1−z) = −ln(1 + t/(α+T)), Euler's transformation gives
//
//	G = (c/ε) [1 − e^(εL) ₂F₁(A, ε; c; z)]
//	  = −c L expm1(εL)/(εL) − e^(εL) Σ_{k≥1} T_k,
//
// where T_k = (c/ε) × (k-th term of ₂F₁(A, ε; c; z)), so T_1 = A z and
// T_(k+1) = T_k (A+k)(ε+k) z / ((c+k)(k+1)). Neither ε nor c appears in a
// denominator, so a = 1 and a+b = 1 need no special cases (c > −1 always).
//
// That series needs about ε z/(1−z) terms, far too many once a is large
// (a and b in the thousands when almost nobody drops out); for a ≥ 2 the
// direct form is used, whose series ₂F₁(r+x, b+x; c; z) has term ratios
// below z (r+x+k)/(k+1) whatever a and b, and whose 1/ε is harmless.
func (p Params) growth(x int, bigT, t float64) float64 {
	if t == 0 {
		return 0
	}
	xf := float64(x)
	c := p.A + p.B + xf - 1
	eps := p.A - 1
	bigA := p.A + p.B - 1 - p.R
	z := t / (p.Alpha + bigT + t)
	l := -math.Log1p(t / (p.Alpha + bigT))
	if eps >= 1 {
		rx, bx := p.R+xf, p.B+xf
		s, ok := hypSeries(rx, bx, c, z, rx*bx*z/c)
		if !ok {
			return math.NaN()
		}
		// 1 − (1−z)^(r+x) (1+s), without losing the small-t digits.
		return c / eps * (-math.Expm1(rx*l) - math.Exp(rx*l)*s)
	}
	y := eps * l
	g := 1.0 // expm1(y)/y, which tends to 1 as y → 0
	if y != 0 {
		g = math.Expm1(y) / y
	}
	tail, ok := hypSeries(bigA, eps, c, z, bigA*z)
	if !ok {
		return math.NaN()
	}
	return -c*l*g - math.Exp(y)*tail
}

// Series controls for hyp2f1 and hypSeries.
const (
	// seriesTol is the relative accuracy at which a series is truncated.
	seriesTol = 1e-16
	// maxSeriesTerms caps the number of series terms. About 40/(1−|z|)
	// terms are needed, so the cap is reached only for |z| > 1 − 4e-5.
	maxSeriesTerms = 1_000_000
)

// hyp2f1 returns the Gaussian hypergeometric function
//
//	₂F₁(a, b; c; z) = Σ_{k≥0} (a)_k (b)_k / (c)_k · z^k / k!,
//
// where (q)_k = q(q+1)…(q+k−1) is the rising factorial, summed as a power
// series; it requires |z| < 1 and c not a non-positive integer. Successive
// terms satisfy t_0 = 1 and t_(k+1) = t_k (a+k)(b+k) z / ((c+k)(k+1)). See
// hypSeries for the stopping rule. It returns NaN when the series is
// undefined or does not converge within maxSeriesTerms terms.
func hyp2f1(a, b, c, z float64) float64 {
	if c <= 0 && c == math.Trunc(c) {
		return math.NaN()
	}
	s, ok := hypSeries(a, b, c, z, a*b*z/c)
	if !ok {
		return math.NaN()
	}
	return 1 + s
}

// hypSeries sums Σ_{k≥1} t_k for the hypergeometric recurrence
// t_(k+1) = t_k (a+k)(b+k) z / ((c+k)(k+1)) from the given first term t1;
// ok is false if |z| ≥ 1 or the series does not converge within
// maxSeriesTerms terms.
//
// Stopping rule: once a+k, b+k and c+k are all positive, each of the factors
// (a+j)/(j+1) and (b+j)/(c+j) is monotone in j and tends to 1, so for every
// j ≥ k the term ratio |t_(j+1)/t_j| is at most
// ρ = |z| · max((a+k)/(k+1), 1) · max((b+k)/(c+k), 1) (or the same with a and
// b paired the other way, whichever is smaller). When ρ < 1 the neglected tail
// is bounded by the geometric series |t_k| ρ/(1−ρ), and summation stops as
// soon as that bound is at most seriesTol·|sum|. A term of exactly zero (a
// terminating series) also stops it.
func hypSeries(a, b, c, z, t1 float64) (sum float64, ok bool) {
	if !(math.Abs(z) < 1) || math.IsNaN(a+b+c+t1) {
		return math.NaN(), false
	}
	sum, term := t1, t1
	for k := 1; k <= maxSeriesTerms; k++ {
		if term == 0 {
			return sum, true
		}
		kf := float64(k)
		ak, bk, ck := a+kf, b+kf, c+kf
		if ak > 0 && bk > 0 && ck > 0 {
			rho := math.Abs(z) * math.Min(
				math.Max(ak/(kf+1), 1)*math.Max(bk/ck, 1),
				math.Max(ak/ck, 1)*math.Max(bk/(kf+1), 1),
			)
			if rho < 1 && math.Abs(term)*rho/(1-rho) <= seriesTol*math.Abs(sum) {
				return sum, true
			}
		}
		if ck == 0 {
			return math.NaN(), false
		}
		term *= ak * bk / (ck * (kf + 1)) * z
		sum += term
	}
	return sum, false
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// logAddExp returns ln(e^x + e^y) without overflow.
func logAddExp(x, y float64) float64 {
	if x < y {
		x, y = y, x
	}
	if math.IsInf(x, -1) {
		return x
	}
	return x + math.Log1p(math.Exp(y-x))
}

func isFinite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}
