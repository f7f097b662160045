"""The types every Trainyard part speaks: spec, events, states, job, run and dataset views,
error body."""
