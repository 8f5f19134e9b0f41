package steps

import "github.com/runbook-dev/runbook/runbooks"

// AreaScore is one area of a runbook's score as the run stands.
type AreaScore struct {
	ID, Title string
	Weight    int
	Baseline  int
	Value     int
	// By names the step that raised the area to Value ("" at baseline).
	By string
}

// Score is the runbook's weighted score for a run.
type Score struct {
	Title    string
	Total    float64 // weighted mean of the areas, 0-100
	Baseline float64 // the same at the baselines
	Target   int
	Areas    []AreaScore
}

// Met reports whether the total reaches the target.
func (s Score) Met() bool { return s.Total+1e-9 >= float64(s.Target) }

// ComputeScore rates a run: every area starts at its baseline; a step that
// has succeeded (and is not undone) raises the areas it names to its values.
// Pure, like ComputeTiming. The zero Score (no areas) when the runbook has
// no score.
func ComputeScore(rb *runbooks.Runbook, run *Run) Score {
	if rb.Score == nil {
		return Score{}
	}
	sc := Score{Title: rb.Score.Title, Target: rb.Score.Target}
	idx := map[string]int{}
	for i, a := range rb.Score.Areas {
		sc.Areas = append(sc.Areas, AreaScore{ID: a.ID, Title: a.Title, Weight: a.Weight, Baseline: a.Baseline, Value: a.Baseline})
		idx[a.ID] = i
	}
	for _, st := range rb.Steps() {
		if len(st.Raises) == 0 || run.Step(st.ID).Status != Succeeded {
			continue
		}
		for area, v := range st.Raises {
			if i, ok := idx[area]; ok && v > sc.Areas[i].Value {
				sc.Areas[i].Value, sc.Areas[i].By = v, st.ID
			}
		}
	}
	var w, total, base float64
	for _, a := range sc.Areas {
		w += float64(a.Weight)
		total += float64(a.Weight * a.Value)
		base += float64(a.Weight * a.Baseline)
	}
	if w > 0 {
		sc.Total, sc.Baseline = total/w, base/w
	}
	return sc
}
