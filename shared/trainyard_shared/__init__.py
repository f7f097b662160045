"""What every Trainyard part shares: contracts, reporter, storage, executors, service factory."""
