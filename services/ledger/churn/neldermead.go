package churn

import (
	"math"
	"slices"
)

// Nelder–Mead controls used by Fit.
const (
	// nmFTol: a run has converged when the spread of objective values over
	// the simplex is at most nmFTol·(1+|f_best|) ...
	nmFTol = 1e-11
	// nmXTol: ... and every vertex is within nmXTol of the best one in every
	// coordinate (log-parameters, so this is a relative precision).
	nmXTol = 1e-9
	// nmMaxIter caps the iterations of one run.
	nmMaxIter = 20_000
	// nmStep and nmRestartStep are the edge lengths of the initial simplex
	// of the first run and of each restart.
	nmStep        = 0.5
	nmRestartStep = 0.05
	// nmRestartTol: restarts stop once one improves the objective by at most
	// nmRestartTol·(1+|f|).
	nmRestartTol = 1e-10
	// nmMaxRestarts caps the restarts after the first run.
	nmMaxRestarts = 50
)

// nmMaxEvals caps the objective evaluations of one minimize call: a
// likelihood with no interior maximum (the estimate drifting towards the
// box) would otherwise keep every run at its iteration cap.
const nmMaxEvals = 3000

// minimize minimises f from x0 with nelderMead, then restarts it from the
// best point found with a fresh simplex until a restart no longer improves
// the objective or the evaluation budget is spent. Restarts guard against
// the simplex collapsing onto a subspace away from the minimum, a known
// failure mode of Nelder–Mead.
func minimize(f func([]float64) float64, x0 []float64) ([]float64, float64) {
	budget := nmMaxEvals
	counted := func(x []float64) float64 {
		budget--
		return f(x)
	}
	x, fx := nelderMead(counted, x0, nmStep, &budget)
	for range nmMaxRestarts {
		if !isFinite(fx) || budget <= 0 {
			break
		}
		x2, f2 := nelderMead(counted, x, nmRestartStep, &budget)
		improved := fx - f2
		if f2 < fx {
			x, fx = x2, f2
		}
		if improved <= nmRestartTol*(1+math.Abs(fx)) {
			break
		}
	}
	return x, fx
}

// nelderMead minimises f from x0 with the Nelder–Mead downhill simplex
// method (reflection 1, expansion 2, contraction ½, shrink ½). The initial
// simplex is x0 plus x0 + step·e_i for each coordinate i. f should return
// +Inf where it is undefined; such points are simply never accepted over
// finite ones. It returns the best vertex and its value after convergence
// (see nmFTol and nmXTol), nmMaxIter iterations, or when the budget of
// evaluations is spent.
func nelderMead(f func([]float64) float64, x0 []float64, step float64, budget *int) ([]float64, float64) {
	n := len(x0)
	type vertex struct {
		x []float64
		f float64
	}
	simplex := make([]vertex, n+1)
	for i := range simplex {
		x := slices.Clone(x0)
		if i > 0 {
			x[i-1] += step
		}
		simplex[i] = vertex{x, f(x)}
	}
	centroid := make([]float64, n)
	// along returns centroid + coef·(centroid − worst).
	along := func(coef float64) vertex {
		worst := simplex[n].x
		x := make([]float64, n)
		for j := range x {
			x[j] = centroid[j] + coef*(centroid[j]-worst[j])
		}
		return vertex{x, f(x)}
	}
	byValue := func(u, v vertex) int {
		switch {
		case u.f < v.f:
			return -1
		case u.f > v.f:
			return 1
		}
		return 0
	}

	for range nmMaxIter {
		if *budget <= 0 {
			break
		}
		slices.SortStableFunc(simplex, byValue)
		best, worst := simplex[0], simplex[n]
		if worst.f-best.f <= nmFTol*(1+math.Abs(best.f)) {
			var spread float64
			for _, v := range simplex[1:] {
				for j := range v.x {
					spread = math.Max(spread, math.Abs(v.x[j]-best.x[j]))
				}
			}
			if spread <= nmXTol {
				break
			}
		}

		for j := range centroid {
			centroid[j] = 0
			for _, v := range simplex[:n] {
				centroid[j] += v.x[j]
			}
			centroid[j] /= float64(n)
		}

		r := along(1)
		switch {
		case r.f < best.f:
			if e := along(2); e.f < r.f {
				simplex[n] = e
			} else {
				simplex[n] = r
			}
			continue
		case r.f < simplex[n-1].f:
			simplex[n] = r
			continue
		case r.f < worst.f:
			if c := along(0.5); c.f <= r.f {
				simplex[n] = c
				continue
			}
		default:
			if c := along(-0.5); c.f < worst.f {
				simplex[n] = c
				continue
			}
		}
		// Shrink every vertex towards the best one.
		for i := 1; i <= n; i++ {
			x := simplex[i].x
			for j := range x {
				x[j] = best.x[j] + 0.5*(x[j]-best.x[j])
			}
			simplex[i].f = f(x)
		}
	}
	slices.SortStableFunc(simplex, byValue)
	return simplex[0].x, simplex[0].f
}
