"""The types every Trainyard part speaks: spec, events, states, job and run views, error body."""
